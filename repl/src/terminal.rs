//! The terminal while an input runs.
//!
//! Between two prompts the line editor has put the terminal back in its normal (canonical,
//! echoing) mode. Keys typed meanwhile would then be echoed by the terminal, glued to the
//! program's output, and edited by the kernel's line discipline. [`Quiet`] switches echo and
//! canonical mode off for the interactive session, so typed-ahead bytes wait untouched in the
//! terminal's input queue; the next prompt reads them as if they were typed there. Signals stay
//! on (Ctrl-C interrupts the input) and `NOFLSH` keeps the queue when Ctrl-C is pressed.

use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios};

/// Echo and line editing off until dropped (a no-op when stdin is not a terminal).
pub struct Quiet(Option<Termios>);

impl Quiet {
    /// Switches the terminal on stdin to quiet mode, remembering the mode to restore.
    pub fn start() -> Quiet {
        let stdin = std::io::stdin();
        let Ok(original) = termios::tcgetattr(&stdin) else {
            return Quiet(None);
        };
        let mut quiet = original.clone();
        quiet.local_flags &= !(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::IEXTEN);
        quiet.local_flags |= LocalFlags::ISIG | LocalFlags::NOFLSH;
        // Enter must reach the editor as `\r` (accept the line), as it does at the prompt.
        quiet.input_flags &= !(InputFlags::ICRNL | InputFlags::INLCR | InputFlags::IGNCR);
        quiet.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        quiet.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        // TCSANOW: never discard pending input (TCSAFLUSH would).
        match termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet) {
            Ok(()) => Quiet(Some(original)),
            Err(_) => Quiet(None),
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(original) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, original);
        }
    }
}
