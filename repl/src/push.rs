//! `livejit push PATH FILE...`: installs the files in the service listening at PATH as one
//! transaction, prints what the service answers (rendered here, as the REPL renders it), and
//! exits 0 if it was installed and its top-level code ran, 1 if it was rejected (nothing
//! installed) or its top-level code failed, 2 if no service answers at PATH.

use crate::protocol::{ClientMsg, Connection, FileArg, Incoming, ServerMsg};
use std::path::Path;

/// `push`'s usage line.
pub const USAGE: &str = "livejit push PATH FILE...";

/// Runs `livejit push`; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let [path, files @ ..] = args else {
        eprintln!("usage: {USAGE}");
        return 2;
    };
    if files.is_empty() {
        eprintln!("usage: {USAGE}");
        return 2;
    }
    crate::set_colour_for_stderr();
    let mut sent = Vec::new();
    for f in files {
        match crate::source::read_file(f) {
            Ok(bytes) => sent.push(FileArg::new(f, bytes)),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
    let mut conn = match Connection::open(Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if let Err(e) = conn.send(&ClientMsg::Push { id: 1, files: sent }) {
        eprintln!("error: the service at {path} closed the connection: {e}");
        return 2;
    }
    while let Some(msg) = conn.receive() {
        match msg {
            Incoming::Reply(t) => {
                let (stream, text) = crate::render::reply(&t.reply);
                crate::out::emit(stream, text);
            }
            Incoming::Server(ServerMsg::Result { id: 1, ok, .. }) => return i32::from(!ok),
            Incoming::Server(ServerMsg::Error { message, .. }) => {
                eprintln!("error: {message}");
                return 1;
            }
            Incoming::Server(_) => {}
        }
    }
    eprintln!("error: the service at {path} closed the connection before answering");
    2
}
