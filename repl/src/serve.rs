//! `livejit serve FILE [--http ADDR] [--control PATH] [--threads N] [--request-timeout MS]`:
//! load FILE, run its top-level code, then keep the session alive as a service until SIGTERM
//! or SIGINT. The HTTP side lives in [`crate::http`], the control socket (what `attach` and
//! `push` talk to) in [`crate::control`]; this file only sequences them:
//!
//! 1. parse the arguments, start the session, load FILE (exit 1 if it fails, before listening);
//! 2. start HTTP (checks `handle`'s signature and pins it), then the control socket;
//! 3. wait for SIGTERM or SIGINT;
//! 4. stop accepting, drain in-flight requests (at most [`DRAIN`]), close the control socket
//!    (removing its file), exit 0.

use std::path::PathBuf;
use std::time::Duration;

/// How long SIGTERM waits for in-flight requests.
pub const DRAIN: Duration = Duration::from_secs(10);

/// `serve`'s command line.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    /// The program to load.
    pub file: String,
    /// `--http ADDR`: where to serve HTTP, if at all.
    pub http: Option<String>,
    /// `--control PATH` (default `./livejit.sock`).
    pub control: PathBuf,
    /// `--threads N` (default: one per core): the request task pool's size.
    pub threads: usize,
    /// `--request-timeout MS` (default 30000).
    pub request_timeout: Duration,
}

/// `serve`'s usage line (part of the binary's usage text).
pub const USAGE: &str =
    "livejit serve FILE [--http ADDR] [--control PATH] [--threads N] [--request-timeout MS]";

/// Parses the arguments after `serve`.
pub fn parse(args: &[String]) -> Result<ServeArgs, String> {
    let mut file = None;
    let mut http = None;
    let mut control = PathBuf::from("./livejit.sock");
    let mut threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let mut request_timeout = Duration::from_millis(30_000);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("`{flag}` needs a value"))
        };
        match a.as_str() {
            "--http" => http = Some(value("--http")?),
            "--control" => control = PathBuf::from(value("--control")?),
            "--threads" => {
                let v = value("--threads")?;
                threads = match v.parse::<usize>() {
                    Ok(n) if (1..=1024).contains(&n) => n,
                    _ => return Err(format!("`--threads {v}`: expected a number from 1 to 1024")),
                };
            }
            "--request-timeout" => {
                let v = value("--request-timeout")?;
                request_timeout = match v.parse::<u64>() {
                    Ok(ms) if ms > 0 => Duration::from_millis(ms),
                    _ => {
                        return Err(format!(
                            "`--request-timeout {v}`: expected milliseconds > 0"
                        ))
                    }
                };
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option `{flag}`")),
            f if file.is_none() => file = Some(f.to_string()),
            extra => return Err(format!("unexpected argument `{extra}`")),
        }
    }
    let file = file.ok_or("no FILE to serve")?;
    Ok(ServeArgs {
        file,
        http,
        control,
        threads,
        request_timeout,
    })
}

/// Runs `livejit serve`; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("livejit serve: {e}\nusage: {USAGE}");
            return 2;
        }
    };
    let Some(mut repl) = crate::new_repl() else {
        return 1;
    };
    if !repl.load(&args.file) {
        repl.shutdown();
        return 1;
    }
    // Before listening: a SIGTERM that arrives once a client can see the service drains it.
    let signals = match termination_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            repl.shutdown();
            return 1;
        }
    };
    let http = match &args.http {
        Some(addr) => match crate::http::start(&mut repl, addr, args.threads, args.request_timeout)
        {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("error: {e}");
                repl.shutdown();
                return 1;
            }
        },
        None => None,
    };
    let control = match crate::control::start(repl, &args.control) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(h) = http {
                h.shutdown(Duration::ZERO);
            }
            return 1;
        }
    };
    // Blocks until SIGTERM or SIGINT.
    let _ = signals.recv();
    if let Some(h) = http {
        h.shutdown(DRAIN);
    }
    control.shutdown();
    0
}

/// A channel that receives once when SIGTERM or SIGINT arrives (signal-hook's iterator thread).
fn termination_signals() -> Result<std::sync::mpsc::Receiver<()>, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("livejit-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                let _ = tx.try_send(());
            }
        })
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    Ok(rx)
}
