//! The HTTP side of `livejit serve --http ADDR` (see `serve.rs`): every request calls
//! `fn handle(method: str, path: str, body: str) -> str` through its slot on the session's pool
//! of request task threads.

use crate::commands::Repl;
use std::time::Duration;

/// A running HTTP listener and its request pool.
pub struct Http {}

/// Checks that the session defines `handle` with the right signature, pins that signature,
/// starts `threads` request task threads and listens on `addr`.
pub fn start(
    _repl: &mut Repl,
    addr: &str,
    _threads: usize,
    _request_timeout: Duration,
) -> Result<Http, String> {
    Err(format!("cannot serve HTTP on {addr}: not built yet"))
}

impl Http {
    /// Stops accepting, lets in-flight requests finish for at most `drain`, stops the pool.
    pub fn shutdown(self, _drain: Duration) {}
}
