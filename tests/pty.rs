//! The interactive REPL in a real pseudo-terminal: what a user sees and types.
//!
//! Each test runs the `livejit` binary on a pty (rexpect), with the terminal's echo on as in a
//! real terminal, and feeds everything it prints to a `vt100` screen model where the test must
//! see what the user sees. Waits are for markers in the output, never fixed sleeps; every wait
//! has a generous deadline that only catches hangs.

mod common;

use rexpect::session::{spawn_command, PtySession};
use std::num::NonZeroU16;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Deadline for one expected marker: far above what any step needs on a loaded 2-core machine.
const STEP: Duration = Duration::from_secs(60);

struct Term {
    p: PtySession,
    /// Everything the REPL printed so far.
    transcript: String,
    /// How much of `transcript` earlier waits have consumed.
    seen: usize,
    screen: vt100::Parser,
}

impl Term {
    /// Starts `livejit` on a pty with echo on; `history` is its history file.
    fn start(history: &std::path::Path) -> Term {
        Term::start_in(history, std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
    }

    /// Like [`Term::start`], in working directory `cwd`.
    fn start_in(history: &std::path::Path, cwd: &std::path::Path) -> Term {
        let mut t = Term::spawn(history, cwd, false);
        t.expect("livejit> ");
        t
    }

    /// Starts `livejit` with `NO_COLOR` unset when `colour` (the prompt is then styled: wait
    /// for `livejit>`), else set.
    fn spawn(history: &std::path::Path, cwd: &std::path::Path, colour: bool) -> Term {
        Term::spawn_with(history, cwd, colour, &[])
    }

    /// [`Term::spawn`] of `livejit ARGS...`.
    fn spawn_with(
        history: &std::path::Path,
        cwd: &std::path::Path,
        colour: bool,
        args: &[&str],
    ) -> Term {
        let mut cmd = Command::new("sh");
        cmd.current_dir(cwd);
        // rexpect turns the pty's echo off; a user's terminal has it on.
        cmd.args([
            "-c",
            "stty echo icanon && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_livejit"),
        ])
        .args(args)
        .env("TERM", "xterm")
        .env("RUST_BACKTRACE", "0")
        .env("LIVEJIT_HISTORY", history);
        if colour {
            cmd.env_remove("NO_COLOR");
        } else {
            cmd.env("NO_COLOR", "1");
        }
        let p = spawn_command(cmd, Some(STEP.as_millis() as u64)).expect("spawn livejit on a pty");
        Term {
            p,
            transcript: String::new(),
            seen: 0,
            screen: vt100::Parser::new(
                NonZeroU16::new(200).unwrap(),
                NonZeroU16::new(100).unwrap(),
                0,
            ),
        }
    }

    fn pump(&mut self) -> bool {
        let mut got = false;
        while let Some(c) = self.p.try_read() {
            self.transcript.push(c);
            // rexpect hands out each byte as a char (U+0000..U+00FF): give vt100 the bytes.
            match u8::try_from(u32::from(c)) {
                Ok(byte) => self.screen.process(&[byte]),
                Err(_) => self.screen.process(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
            }
            got = true;
        }
        got
    }

    /// Waits until `needle` appears in output not yet consumed, calling `tick` every 300 ms.
    fn expect_with(&mut self, needle: &str, mut tick: impl FnMut(&mut PtySession)) {
        let start = Instant::now();
        let mut last_tick = Instant::now();
        loop {
            self.pump();
            if let Some(i) = self.transcript[self.seen..].find(needle) {
                self.seen += i + needle.len();
                return;
            }
            assert!(
                start.elapsed() < STEP,
                "timed out waiting for {needle:?}\n--- transcript\n{}\n--- screen\n{}",
                self.transcript,
                self.screen_text()
            );
            if last_tick.elapsed() > Duration::from_millis(300) {
                tick(&mut self.p);
                last_tick = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn expect(&mut self, needle: &str) {
        self.expect_with(needle, |_| {});
    }

    fn send(&mut self, text: &str) {
        self.p.send(text).expect("write to the pty");
        self.p.flush().expect("flush the pty");
    }

    /// Defines `counter` (41), then types `gc` Tab: `gcd` (defined before) completes and its
    /// signature shows after the cursor.
    fn define_counter_and_complete_gcd(&mut self) {
        self.send("global counter: int = 41;\r");
        self.expect("livejit> ");
        self.send("gc\t");
        self.expect_line("with the completed call and its signature hint", |l| {
            l == "livejit> gcd(a: int, b: int) -> int"
        });
    }

    /// Presses Ctrl-C every 300 ms until `needle` appears (a Ctrl-C that arrives before
    /// what it should interrupt has started is lost).
    fn ctrl_c_until(&mut self, needle: &str) {
        self.expect_with(needle, |p| {
            let _ = p.send_control('c');
        });
    }

    fn send_ctrl_c(&mut self) {
        self.p.send_control('c').expect("write to the pty");
    }

    fn screen_text(&self) -> String {
        self.screen.screen().contents()
    }

    /// The screen's lines, trailing blanks trimmed.
    fn screen_lines(&self) -> Vec<String> {
        self.screen_text()
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    }

    /// Waits until some screen line satisfies `pred` (the screen, unlike the transcript, shows
    /// what a redraw left), pumping output meanwhile.
    fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            self.pump();
            if self.screen_lines().iter().any(|l| pred(l)) {
                return;
            }
            assert!(
                start.elapsed() < STEP,
                "timed out waiting for a line {what}\n--- screen\n{}",
                self.screen_text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Types `text` one character at a time, like a person, letting output arrive between.
    fn type_slowly(&mut self, text: &str, pause: Duration) {
        for c in text.chars() {
            self.send(&c.to_string());
            std::thread::sleep(pause);
            self.pump();
        }
    }

    /// Ctrl-D at an empty prompt: the REPL exits with status 0.
    fn quit(mut self) {
        self.send("\x04");
        let rest = self.p.exp_eof();
        assert!(rest.is_ok(), "Ctrl-D did not exit\n{}", self.transcript);
        let status = self.p.process().wait().map(|s| format!("{s:?}"));
        // nix's WaitStatus, which rexpect does not re-export: `Exited(Pid(..), 0)`.
        assert!(
            status
                .as_ref()
                .is_ok_and(|s| s.starts_with("Exited(") && s.ends_with(", 0)")),
            "{status:?}\n{}",
            self.transcript
        );
    }
}

fn history_file(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("pty")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("history")
}

/// A burst of three lines in one write, without bracketed paste (a paste in a terminal that
/// does not bracket it, or keys typed faster than the REPL reads): all three run, in order.
/// rustyline 17 showed only the first character until another key arrived.
#[test]
fn a_burst_of_lines_runs_every_line_in_order() {
    let mut t = Term::start(&history_file("burst"));
    t.send("print(12345)\rprint(2 * 100)\rprint(3 + 300)\r");
    t.expect("12345");
    t.expect("200");
    t.expect("303");
    t.expect("livejit> ");
    t.quit();
}

/// Keys typed while an input runs are neither lost, nor echoed by the terminal into the
/// output, nor shown twice: they appear at the next prompt and run there.
#[test]
fn type_ahead_during_an_evaluation_waits_for_the_next_prompt() {
    let mut t = Term::start(&history_file("type_ahead"));
    t.send("print(\"started\"); sleep_ms(1500); print(\"slept\")\r");
    t.expect("started");
    t.send("print(2+22)\rprint(7*6)\r");
    t.expect("slept");
    t.expect("24");
    t.expect("42");
    t.expect("livejit> ");
    let screen = t.screen_text();
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    // Exactly once each, as prompt lines, and never glued to program output.
    for input in ["print(2+22)", "print(7*6)"] {
        let shown: Vec<&&str> = lines.iter().filter(|l| l.contains(input)).collect();
        assert_eq!(
            shown,
            vec![&format!("livejit> {input}").as_str()],
            "{input} must show once, at a prompt\n--- screen\n{screen}"
        );
    }
    assert!(lines.contains(&"slept"), "--- screen\n{screen}");
    t.quit();
}

/// A bracketed paste of a multi-line definition plus a call is one input, run at the Enter
/// that follows it.
#[test]
fn a_bracketed_paste_is_one_input() {
    let mut t = Term::start(&history_file("paste"));
    t.send("\x1b[200~fn sq(x: int) -> int {\r    x * x\r}\rsq(12) + 1\x1b[201~");
    t.send("\r");
    t.expect("defined sq");
    t.expect("145");
    t.expect("livejit> ");
    t.quit();
}

/// Ctrl-C stops `:wait` on a task that never ends, and `:sleep`; the session goes on.
#[test]
fn ctrl_c_stops_wait_and_sleep() {
    let mut t = Term::start(&history_file("ctrl_c"));
    t.send("global n: int = 5;\r");
    t.expect("livejit> ");
    t.send(":spawn while true { n += 1; }\r");
    t.expect("task 1 started");
    t.send(":wait 1\r");
    // Repeated until it lands: a Ctrl-C that arrives before `:wait` starts waiting is lost.
    t.ctrl_c_until("interrupted in `:wait`");
    t.expect("livejit> ");
    t.send(":sleep 600000\r");
    t.ctrl_c_until("interrupted in `:sleep`");
    t.expect("livejit> ");
    t.send("print(\"still\", 40 + 2)\r");
    t.expect("still 42");
    t.expect("livejit> ");
    t.quit();
}

/// A foreground evaluation interrupted by Ctrl-C reports one line.
#[test]
fn ctrl_c_interrupts_an_evaluation_with_one_line() {
    let mut t = Term::start(&history_file("ctrl_c_eval"));
    t.send("fn spin() { while true {} }\r");
    t.expect("defined spin");
    t.expect("livejit> ");
    t.send("print(\"spinning\"); spin()\r");
    t.expect("spinning");
    t.ctrl_c_until("interrupted in spin (v1) at <input:1>:1");
    t.expect("livejit> ");
    t.send("1 + 1\r");
    t.expect("2");
    t.quit();
}

/// The history file gets each entry as soon as it is entered, not only at exit.
#[test]
fn history_is_appended_after_every_entry() {
    let history = history_file("history");
    let mut t = Term::start(&history);
    t.send("print(10 + 1)\r");
    t.expect("11");
    t.expect("livejit> ");
    let text = std::fs::read_to_string(&history).unwrap_or_default();
    assert!(text.contains("print(10 + 1)"), "history:\n{text}");
    t.send("print(20 + 2)\r");
    t.expect("22");
    t.expect("livejit> ");
    let text = std::fs::read_to_string(&history).unwrap_or_default();
    assert!(
        text.contains("print(10 + 1)") && text.contains("print(20 + 2)"),
        "history:\n{text}"
    );
    t.quit();
}

/// A `:watch`ed file whose new top-level code loops does not freeze the prompt: an input typed
/// meanwhile waits for the reload, Ctrl-C interrupts the reload, and the input then runs.
#[test]
fn a_looping_watch_reload_can_be_interrupted() {
    let history = history_file("watch");
    let dir = history.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("w.src"), "global k: int = 0;\n").unwrap();
    let mut t = Term::start_in(&history, &dir);
    t.send(":watch w.src\r");
    t.expect("watching w.src");
    t.expect("livejit> ");
    std::fs::write(
        dir.join("w.src"),
        "global k: int = 0;\nfn spin() { while true { k += 1; } }\nspin();\n",
    )
    .unwrap();
    t.expect("w.src changed, reloading");
    t.send("print(\"after\", k > 0)\r");
    t.ctrl_c_until("interrupted in spin (v1) at w.src:2");
    t.expect("after true");
    t.expect("livejit> ");
    t.quit();
}

/// An unwritable history location gives one warning, and the REPL works on.
#[test]
fn an_unwritable_history_gives_one_warning() {
    let mut t = Term::start(std::path::Path::new("/proc/livejit-no-such-dir/history"));
    t.send("print(30 + 3)\r");
    t.expect("33");
    t.expect("livejit> ");
    t.send("print(40 + 4)\r");
    t.expect("44");
    t.expect("livejit> ");
    assert_eq!(
        t.transcript
            .matches("warning: cannot write the history")
            .count(),
        1,
        "{}",
        t.transcript
    );
    t.quit();
}

/// Tab completes a function name (with its `(`), and the signature of the function being
/// called shows after the cursor; a global and a command complete too.
#[test]
fn tab_completes_names_and_hints_show_signatures() {
    let mut t = Term::start(&history_file("complete_fn"));
    t.send("fn gcd(a: int, b: int) -> int { if b == 0 { a } else { gcd(b, a % b) } }\r");
    t.expect("defined gcd");
    t.expect("livejit> ");
    t.define_counter_and_complete_gcd();
    t.send("12, ");
    t.expect_line("with the rest of the signature", |l| {
        l == "livejit> gcd(12, b: int) -> int"
    });
    t.send("18)\r");
    t.expect("\n6");
    t.expect("livejit> ");
    t.send("coun\t + 1\r");
    t.expect("42");
    t.expect("livejit> ");
    // Fields of a global's struct type after `p.`.
    t.send("struct Point { xcoord: int, ycoord: int }\r");
    t.expect("livejit> ");
    t.send("global p: Point = Point { xcoord: 3, ycoord: 4 };\r");
    t.expect("livejit> ");
    t.send("p.y\t * 10\r");
    t.expect("\n40");
    t.expect("livejit> ");
    t.send(":lis\t\r");
    t.expect("global counter: int = 41");
    t.expect("livejit> ");
    t.quit();
}

/// Tab completes file paths after `:load`.
#[test]
fn tab_completes_a_path_after_load() {
    let history = history_file("complete_path");
    let dir = history.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("pathdemo_file.src"), "global loaded: int = 5;\n").unwrap();
    let mut t = Term::start_in(&history, &dir);
    t.send(":load pathdemo_f\t");
    t.expect_line("with the completed path", |l| {
        l.starts_with("livejit> :load pathdemo_file.src")
    });
    t.send("\r");
    t.expect("livejit> ");
    t.send("loaded + 1\r");
    t.expect_line("with the value 6", |l| l.trim() == "6");
    t.expect("livejit> ");
    t.quit();
}

/// A line with an open bracket continues at the `...> ` prompt; Alt-Enter starts a new line of
/// the same input, so two items typed by hand are one transaction.
#[test]
fn continuation_lines_get_their_own_prompt() {
    let mut t = Term::start(&history_file("continuation"));
    t.send("fn sq(x: int) -> int {\r");
    t.expect("...> ");
    t.send("x * x\r");
    t.expect("...> ");
    t.send("}\r");
    t.expect("defined sq");
    t.expect("livejit> ");
    t.send("fn one() -> int { 1 }\x1b\r");
    t.expect("...> ");
    t.send("fn two() -> int { one() + sq(1) }\r");
    t.expect("defined two");
    t.expect("livejit> ");
    t.send("two()\r");
    t.expect("2");
    t.expect("livejit> ");
    // Ctrl-C at `...> ` drops the unfinished input.
    t.send("print(1,\r");
    t.expect("...> ");
    t.send_ctrl_c();
    t.expect("livejit> ");
    t.send("print(77)\r");
    t.expect("\n77");
    t.expect("livejit> ");
    let lines = t.screen_lines();
    for want in [
        "livejit> fn sq(x: int) -> int {",
        "...> x * x",
        "...> }",
        "livejit> fn one() -> int { 1 }",
        "...> fn two() -> int { one() + sq(1) }",
    ] {
        assert!(
            lines.iter().any(|l| l == want),
            "missing {want:?}\n--- screen\n{}",
            t.screen_text()
        );
    }
    t.quit();
}

/// Whether `s` holds an ANSI colour sequence (SGR: ESC [ ... m).
fn has_sgr(s: &str) -> bool {
    s.split('\x1b').skip(1).any(|part| {
        part.strip_prefix('[').is_some_and(|p| {
            let end = p.find(|c: char| !(c.is_ascii_digit() || c == ';'));
            end.is_some_and(|e| p[e..].starts_with('m'))
        })
    })
}

/// On a terminal, the prompt, the input and diagnostics are coloured; with `NO_COLOR` set,
/// nothing is.
#[test]
fn colour_on_a_terminal_and_none_with_no_color() {
    let history = history_file("colour");
    let dir = history.parent().unwrap().to_path_buf();
    let mut t = Term::spawn(&history, &dir, true);
    t.expect("livejit>");
    t.send("fn nope() -> int { true }\r");
    t.expect("mismatched types");
    t.expect("livejit>");
    assert!(has_sgr(&t.transcript), "no colour:\n{:?}", t.transcript);
    t.quit();

    let mut t = Term::spawn(&history, &dir, false);
    t.expect("livejit> ");
    t.send("fn nope() -> int { true }\r");
    t.expect("mismatched types");
    t.expect("livejit> ");
    assert!(
        !has_sgr(&t.transcript),
        "colour with NO_COLOR:\n{:?}",
        t.transcript
    );
    t.quit();
}

/// A background task prints while the user types a line: its lines appear above the prompt,
/// in order and complete, and the line being typed stays intact.
#[test]
fn task_output_goes_above_the_line_being_typed() {
    let mut t = Term::start(&history_file("background"));
    t.send("fn ticker(n: int) { for i in 0..n { print(\"tick\", i); sleep_ms(40); } }\r");
    t.expect("defined ticker");
    t.expect("livejit> ");
    t.send(":spawn ticker(40)\r");
    t.expect("task 1 started");
    t.expect("tick 2");
    let typed = "print(\"typed\", 40 + 2)";
    t.type_slowly(typed, Duration::from_millis(25));
    // Ticks keep arriving while the line is half-entered.
    t.expect_line("with the typed text at the prompt", |l| {
        l == format!("livejit> {typed}")
    });
    t.expect("tick 20");
    t.expect_line("still with the typed text", |l| {
        l == format!("livejit> {typed}")
    });
    t.send("\r");
    t.expect("typed 42");
    t.expect("task 1 ended");
    t.expect("livejit> ");
    let lines = t.screen_lines();
    let ticks: Vec<u32> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("tick "))
        .map(|n| n.parse().unwrap_or(u32::MAX))
        .collect();
    assert_eq!(
        ticks,
        (0..40).collect::<Vec<u32>>(),
        "ticks out of order, lost or garbled\n--- screen\n{}",
        t.screen_text()
    );
    let prompts: Vec<&String> = lines.iter().filter(|l| l.contains("typed")).collect();
    assert_eq!(
        prompts,
        vec![&format!("livejit> {typed}"), &"typed 42".to_string()],
        "--- screen\n{}",
        t.screen_text()
    );
    let started = lines.iter().position(|l| l == "task 1 started");
    let ended = lines.iter().position(|l| l == "task 1 ended");
    assert!(
        started.is_some() && started < ended,
        "--- screen\n{}",
        t.screen_text()
    );
    t.quit();
}

/// A `:watch` reload while the user is typing prints its lines (and diagnostics) above the
/// prompt, like any other asynchronous output; the half-typed line stays intact.
#[test]
fn a_watch_reload_prints_above_the_line_being_typed() {
    let history = history_file("watch_typing");
    let dir = history.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("w.src"), "fn w() -> int { 1 }\n").unwrap();
    let mut t = Term::start_in(&history, &dir);
    t.send(":watch w.src\r");
    t.expect("watching w.src");
    t.expect("livejit> ");
    t.type_slowly("print(w() +", Duration::from_millis(10));
    t.expect_line("with the half-typed input", |l| l == "livejit> print(w() +");
    std::fs::write(dir.join("w.src"), "fn w() -> int { 2 }\n").unwrap();
    t.expect("redefined w (v2)");
    std::fs::write(dir.join("w.src"), "fn w() -> int { true }\n").unwrap();
    t.expect("mismatched types");
    t.expect_line("with the half-typed input again", |l| {
        l == "livejit> print(w() +"
    });
    t.send(" 40)\r");
    t.expect("42");
    t.expect("livejit> ");
    let lines = t.screen_lines();
    let at = |want: &str| lines.iter().position(|l| l.contains(want));
    let (changed, redefined, error, typed) = (
        at("w.src changed, reloading"),
        at("redefined w (v2)"),
        at("mismatched types"),
        at("livejit> print(w() + 40)"),
    );
    assert!(
        changed.is_some() && changed < redefined && redefined < error && error < typed,
        "--- screen\n{}",
        t.screen_text()
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("print(w()") && l != "livejit> print(w() + 40)"),
        "the typed line was split or garbled\n--- screen\n{}",
        t.screen_text()
    );
    t.quit();
}

/// `livejit attach` on a terminal: the service's names complete and hint, Ctrl-C interrupts
/// the attached client's evaluation, Ctrl-D detaches and the service keeps running.
#[test]
fn attach_completes_from_the_service_and_detaches() {
    use common::service::{test_dir, Service};
    let dir = test_dir("pty_attach");
    let svc = Service::start(
        &dir,
        "fn gcd(a: int, b: int) -> int { if b == 0 { a } else { gcd(b, a % b) } }\n",
        &[],
    );
    let history = history_file("attach");
    let mut t = Term::spawn_with(&history, &dir, false, &["attach", "s.sock"]);
    t.expect("attached to s.sock");
    t.expect("livejit> ");
    t.define_counter_and_complete_gcd();
    t.send("12, 18)\r");
    t.expect("\n6");
    t.expect("livejit> ");
    t.send("coun\t + 1\r");
    t.expect("42");
    t.expect("livejit> ");
    t.send("while true { counter += 1; }\r");
    // Ctrl-C until the evaluation has started and is interrupted.
    t.ctrl_c_until("interrupted");
    t.expect("livejit> ");
    t.quit();
    // Detached: the service still has the session.
    let mut c = svc.client();
    let msgs = c.input(1, "print(counter > 41);");
    assert_eq!(common::service::text_of(&msgs, "out"), "true\n");
}
