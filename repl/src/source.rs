//! Reading source text from hostile places: files that are devices, FIFOs or huge, and script
//! input that never ends a line or is not UTF-8.
//!
//! Everything is read as bytes with a bound (the *input size limit*: 16 MiB, or
//! `LIVEJIT_MAX_INPUT` bytes); turning bytes into text is the front end's
//! [`livejit_frontend::source_text`] check, so an invalid byte is a located compile error.

use crate::input::Scanner;
use std::io::{BufRead, Read};

/// The default input size limit: 16 MiB.
pub const DEFAULT_MAX_INPUT: u64 = 16 << 20;

/// The input size limit in bytes: `LIVEJIT_MAX_INPUT` if set to a number, else 16 MiB.
pub fn max_input() -> u64 {
    std::env::var("LIVEJIT_MAX_INPUT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_INPUT)
}

/// Reads a source file for `:load`, `:watch`, `run` or `repl FILE`: a regular file (symlinks
/// followed) no larger than the input size limit. Devices, FIFOs and directories are refused
/// before they are opened (opening a FIFO would block, reading `/dev/zero` never ends).
pub fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let limit = max_input();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "a device, FIFO or socket"
        };
        return Err(format!("cannot read `{path}`: not a regular file ({what})"));
    }
    if meta.len() > limit {
        return Err(too_large(path, limit));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    // The file may grow between the check and the read (or be a /proc file whose size reads
    // as 0): the read itself is bounded too.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{path}`: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(path, limit));
    }
    Ok(bytes)
}

fn too_large(what: &str, limit: u64) -> String {
    format!("`{what}` is larger than the input size limit ({limit} bytes; set LIVEJIT_MAX_INPUT to change it)")
}

/// Script mode's input splitter: reads lines as bytes, without ever holding more than the input
/// size limit, and hands out complete inputs (brackets balanced, as in the interactive REPL).
pub struct ScriptReader<R> {
    input: R,
    limit: u64,
    /// Bytes of the input being gathered.
    pending: Vec<u8>,
    /// Bracket and string state of `pending`, fed line by line (no rescanning per line).
    scan: Scanner,
}

/// What [`ScriptReader::next_input`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A complete input (or the unfinished rest at the end of the stream).
    Input(Vec<u8>),
    /// The stream ended.
    End,
    /// An input exceeded the limit or the stream failed; reading cannot go on (the rest of an
    /// endless line cannot be skipped in bounded time).
    Error(String),
}

impl<R: BufRead> ScriptReader<R> {
    /// A reader over `input`, bounded by the input size limit.
    pub fn new(input: R) -> Self {
        Self::with_limit(input, max_input())
    }

    /// A reader over `input` with an explicit limit (tests).
    pub fn with_limit(input: R, limit: u64) -> Self {
        ScriptReader {
            input,
            limit,
            pending: Vec::new(),
            scan: Scanner::default(),
        }
    }

    /// The next complete input.
    pub fn next_input(&mut self) -> Next {
        loop {
            let start = self.pending.len();
            let room = (self.limit + 1).saturating_sub(start as u64);
            let read = (&mut self.input)
                .take(room)
                .read_until(b'\n', &mut self.pending);
            let n = match read {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Next::Error(format!("cannot read the input: {e}")),
            };
            if self.pending.len() as u64 > self.limit {
                self.pending = Vec::new();
                return Next::Error(format!(
                    "an input is larger than the input size limit ({} bytes; set \
                     LIVEJIT_MAX_INPUT to change it)",
                    self.limit
                ));
            }
            if n == 0 {
                // End of the stream: whatever is left is the last input.
                self.scan = Scanner::default();
                let rest = std::mem::take(&mut self.pending);
                return if rest.iter().all(u8::is_ascii_whitespace) {
                    Next::End
                } else {
                    Next::Input(rest)
                };
            }
            self.scan.feed(&self.pending[start..]);
            if self.pending.ends_with(b"\n") && self.scan.is_complete() {
                self.scan = Scanner::default();
                return Next::Input(std::mem::take(&mut self.pending));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], limit: u64) -> Vec<Next> {
        let mut r = ScriptReader::with_limit(input, limit);
        let mut out = Vec::new();
        loop {
            match r.next_input() {
                Next::End => return out,
                e @ Next::Error(_) => {
                    out.push(e);
                    return out;
                }
                i => out.push(i),
            }
        }
    }

    #[test]
    fn splits_on_balanced_lines() {
        assert_eq!(
            all(b"print(1)\nfn f() {\n 1\n}\n\xff\nx", 100),
            vec![
                Next::Input(b"print(1)\n".to_vec()),
                Next::Input(b"fn f() {\n 1\n}\n".to_vec()),
                Next::Input(b"\xff\n".to_vec()),
                Next::Input(b"x".to_vec()),
            ]
        );
    }

    #[test]
    fn endless_line_is_an_error() {
        let zeros = std::io::repeat(0).take(1 << 20);
        let mut r = ScriptReader::with_limit(std::io::BufReader::new(zeros), 1000);
        assert!(matches!(r.next_input(), Next::Error(_)));
        let r = all(b"(\n(\n(\n(\n", 5);
        assert!(matches!(r.last(), Some(Next::Error(_))), "{r:?}");
    }
}
