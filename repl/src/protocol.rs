//! The control protocol's messages (docs/protocol.md), shared by the server (`control.rs`) and
//! its clients (`push.rs`, `attach.rs`), and the client's connection.

use crate::commands::Reply;
use livejit_backend::CompletionData;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The longest line either side accepts: the input size limit plus 1 MiB (JSON escapes and
/// the message around the text).
pub fn line_limit() -> usize {
    usize::try_from(crate::source::max_input()).unwrap_or(usize::MAX / 2) + (1 << 20)
}

/// A file sent with a request: its path and its text (or, not UTF-8, its bytes).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileArg {
    /// The path as the client names it.
    pub path: String,
    /// The text, if it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The bytes, if it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u8>>,
}

impl FileArg {
    /// `bytes` as text if they are UTF-8, else as bytes.
    pub fn new(path: &str, bytes: Vec<u8>) -> FileArg {
        match String::from_utf8(bytes) {
            Ok(text) => FileArg {
                path: path.to_string(),
                text: Some(text),
                bytes: None,
            },
            Err(e) => FileArg {
                path: path.to_string(),
                text: None,
                bytes: Some(e.into_bytes()),
            },
        }
    }

    /// The content as bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        match (self.text, self.bytes) {
            (Some(t), _) => t.into_bytes(),
            (None, Some(b)) => b,
            (None, None) => Vec::new(),
        }
    }
}

/// What a client sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// The first message: the protocol version the client speaks.
    Hello {
        /// [`VERSION`].
        version: u32,
    },
    /// One complete REPL input.
    Input {
        /// The request id.
        id: u64,
        /// The input's text...
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// ... or its bytes, if not UTF-8.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<Vec<u8>>,
        /// Files its `:load`, `:watch` or `:reload` names.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<FileArg>,
    },
    /// Files to install as one transaction.
    Push {
        /// The request id.
        id: u64,
        /// The files, in order.
        files: Vec<FileArg>,
    },
    /// Ctrl-C: interrupts this client's foreground evaluation, `:wait` or `:sleep`.
    Interrupt,
    /// Asks for completion data.
    Completion {
        /// The request id.
        id: u64,
    },
}

/// A reply of request `id` (or a status line to everyone, `id` null) on the wire: the
/// [`Reply`]'s fields and type, plus the id.
#[derive(Debug, Serialize, Deserialize)]
pub struct Tagged<R = Reply> {
    /// The request it belongs to.
    pub id: Option<u64>,
    /// The reply ([`Reply`], or `&Reply` to send one).
    #[serde(flatten)]
    pub reply: R,
}

/// The server's other messages.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The answer to the client's hello.
    Hello {
        /// [`VERSION`].
        version: u32,
        /// `livejit X.Y.Z`.
        server: String,
    },
    /// A request is finished.
    Result {
        /// The request id.
        id: u64,
        /// It succeeded.
        ok: bool,
        /// For a push: whether the transaction was committed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        installed: Option<bool>,
    },
    /// The answer to `completion`.
    Completion {
        /// The request id.
        id: u64,
        /// What can be completed now.
        data: CompletionData,
    },
    /// A protocol error.
    Error {
        /// The request, if its id could be read.
        id: Option<u64>,
        /// What was wrong.
        message: String,
    },
}

/// Anything the server sends.
#[derive(Debug)]
pub enum Incoming {
    /// A reply or status line.
    Reply(Tagged),
    /// Hello, result, completion, error.
    Server(ServerMsg),
}

/// Parses one line from the server.
pub fn parse_incoming(line: &[u8]) -> Result<Incoming, String> {
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let ty = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
    if matches!(ty, "hello" | "result" | "completion" | "error") {
        serde_json::from_value(v)
            .map(Incoming::Server)
            .map_err(|e| e.to_string())
    } else {
        serde_json::from_value(v)
            .map(Incoming::Reply)
            .map_err(|e| e.to_string())
    }
}

/// One message as its line (newline included).
pub fn line<T: Serialize>(msg: &T) -> String {
    let mut s = serde_json::to_string(msg).unwrap_or_else(|e| {
        serde_json::json!({"type": "error", "id": null, "message": e.to_string()}).to_string()
    });
    s.push('\n');
    s
}

/// What reading one bounded line found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line (without its newline).
    Line(Vec<u8>),
    /// A line longer than the limit: it was read to its end and dropped.
    TooLong,
    /// The stream ended (a partial last line is dropped).
    End,
}

/// Reads one line of at most `limit` bytes without ever holding more: the rest of a longer
/// line is consumed and discarded.
pub fn read_line<R: BufRead>(r: &mut R, limit: usize) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut too_long = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(Line::End);
        }
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if !too_long {
            if buf.len() + part.len() > limit {
                too_long = true;
                buf = Vec::new();
            } else {
                buf.extend_from_slice(part);
            }
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Line(buf)
            });
        }
    }
}

/// A client's connection to a service, after the hello exchange.
pub struct Connection {
    /// For sending.
    pub writer: UnixStream,
    /// For reading the server's lines.
    pub reader: BufReader<UnixStream>,
}

impl Connection {
    /// Connects to the service at `path` and exchanges hellos. `Err` if no service answers
    /// there.
    pub fn open(path: &Path) -> Result<Connection, String> {
        let shown = path.display();
        let stream =
            UnixStream::connect(path).map_err(|e| format!("no service at {shown}: {e}"))?;
        let writer = stream
            .try_clone()
            .map_err(|e| format!("no service at {shown}: {e}"))?;
        let mut c = Connection {
            writer,
            reader: BufReader::new(stream),
        };
        c.send(&ClientMsg::Hello { version: VERSION })
            .map_err(|e| format!("no service at {shown}: {e}"))?;
        match c.receive() {
            Some(Incoming::Server(ServerMsg::Hello { .. })) => Ok(c),
            Some(Incoming::Server(ServerMsg::Error { message, .. })) => {
                Err(format!("the service at {shown} refused: {message}"))
            }
            _ => Err(format!("no livejit service answers at {shown}")),
        }
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &ClientMsg) -> std::io::Result<()> {
        self.writer.write_all(line(msg).as_bytes())
    }

    /// The next message from the server; `None` once it has closed the connection. Lines it
    /// cannot parse are skipped.
    pub fn receive(&mut self) -> Option<Incoming> {
        next_incoming(&mut self.reader)
    }
}

/// The next message the server sends on `reader` (see [`Connection::receive`]).
pub fn next_incoming<R: BufRead>(reader: &mut R) -> Option<Incoming> {
    loop {
        match read_line(reader, usize::MAX / 2) {
            Ok(Line::Line(l)) => {
                if let Ok(m) = parse_incoming(&l) {
                    return Some(m);
                }
            }
            Ok(Line::TooLong) => {}
            Ok(Line::End) | Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::out::Stream;

    #[test]
    fn a_long_line_is_skipped_without_being_kept() {
        let mut data = vec![b'x'; 100];
        data.extend_from_slice(b"\nok\n");
        let mut r = BufReader::with_capacity(8, &data[..]);
        assert_eq!(read_line(&mut r, 10).unwrap(), Line::TooLong);
        assert_eq!(read_line(&mut r, 10).unwrap(), Line::Line(b"ok".to_vec()));
        assert_eq!(read_line(&mut r, 10).unwrap(), Line::End);
    }

    #[test]
    fn replies_round_trip_with_their_id() {
        let t = Tagged {
            id: Some(7),
            reply: Reply::Output {
                stream: Stream::Out,
                text: "49\n".into(),
            },
        };
        let l = line(&t);
        assert_eq!(
            l,
            "{\"id\":7,\"type\":\"output\",\"stream\":\"out\",\"text\":\"49\\n\"}\n"
        );
        match parse_incoming(l.trim_end().as_bytes()).unwrap() {
            Incoming::Reply(Tagged {
                id: Some(7),
                reply: Reply::Output { text, .. },
            }) => assert_eq!(text, "49\n"),
            other => panic!("{other:?}"),
        }
        let r = line(&ServerMsg::Result {
            id: 3,
            ok: true,
            installed: None,
        });
        assert!(matches!(
            parse_incoming(r.trim_end().as_bytes()),
            Ok(Incoming::Server(ServerMsg::Result {
                id: 3,
                ok: true,
                ..
            }))
        ));
    }
}
