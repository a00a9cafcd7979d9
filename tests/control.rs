//! The control socket of `livejit serve` (docs/protocol.md), `livejit push` and `livejit
//! attach` in script mode, end to end: every test starts a real service (no `--http`: a
//! control-socket-only service) and talks to it as a client would.

mod common;

use common::service::{free_loopback_addr, ok_of, test_dir, text_of, Client, Service, DEADLINE};
use serde_json::json;
use std::time::Instant;

const APP: &str = "global hits: int = 0;\nfn f(x: int) -> int { x + 1 }\n";

/// `print(EXPR)` through a fresh client: what it printed.
fn eval_print(svc: &Service, expr: &str) -> String {
    let mut c = svc.client();
    let msgs = c.input(1, &format!("print({expr});"));
    assert!(ok_of(&msgs), "{msgs:?}");
    text_of(&msgs, "out")
}

/// Waits until `print(EXPR)` prints `want` (`what`: the failure message at the deadline).
fn await_print(svc: &Service, expr: &str, want: &str, what: &str) {
    let start = Instant::now();
    while eval_print(svc, expr) != want {
        assert!(start.elapsed() < DEADLINE, "{what}");
    }
}

#[test]
fn push_installs_rejects_with_diagnostics_and_needs_a_service() {
    let dir = test_dir("push");
    let svc = Service::start(&dir, APP, &[]);
    std::fs::write(dir.join("fix.src"), "fn f(x: int) -> int { x + 10 }\n").unwrap();
    let ok = svc.run(&["push", "s.sock", "fix.src"], None);
    assert_eq!(ok.code(), Some(0), "{}", ok.report());
    assert!(ok.stderr.contains("redefined f (v2)"), "{}", ok.report());
    assert_eq!(eval_print(&svc, "f(1)"), "11\n");
    let versions = svc.client().input(1, ":versions f");
    let rows = &versions.iter().find(|m| m["type"] == "versions").unwrap()["rows"];
    assert_eq!(rows[1]["origin"], "fix.src:1", "{versions:?}");

    // Two files, one transaction: the second's type error rejects both.
    std::fs::write(dir.join("a.src"), "fn fresh() -> int { 1 }\n").unwrap();
    std::fs::write(
        dir.join("bad.src"),
        "// the bug\nfn f(x: int) -> int { x + 20 }\nfn g() -> bool { 3 }\n",
    )
    .unwrap();
    let bad = svc.run(&["push", "s.sock", "a.src", "bad.src"], None);
    assert_eq!(bad.code(), Some(1), "{}", bad.report());
    assert!(bad.stderr.contains("mismatched types"), "{}", bad.report());
    // Located in the file it is in, at its own line.
    assert!(bad.stderr.contains("bad.src:3:"), "{}", bad.report());
    assert_eq!(eval_print(&svc, "f(1)"), "11\n", "nothing was installed");
    let mut c = svc.client();
    let msgs = c.input(1, "fresh()");
    assert!(!ok_of(&msgs), "`fresh` must not exist: {msgs:?}");

    // Top-level code that fails: installed, exit 1.
    std::fs::write(
        dir.join("boom.src"),
        "fn h() -> int { 7 }\nlet z = 1 / (h() - 7);\n",
    )
    .unwrap();
    let boom = svc.run(&["push", "s.sock", "boom.src"], None);
    assert_eq!(boom.code(), Some(1), "{}", boom.report());
    assert!(
        boom.stderr.contains("division by zero"),
        "{}",
        boom.report()
    );
    assert!(boom.stderr.contains("boom.src:2:"), "{}", boom.report());
    assert_eq!(eval_print(&svc, "h()"), "7\n");

    let none = svc.run(&["push", "nothing-here.sock", "fix.src"], None);
    assert_eq!(none.code(), Some(2), "{}", none.report());
    assert!(none.stderr.contains("no service"), "{}", none.report());
}

/// One client's long evaluation does not block another client's inputs; status lines reach
/// both; a client's print goes to it alone.
#[test]
fn two_clients_at_once_with_their_own_output() {
    let dir = test_dir("two_clients");
    let svc = Service::start(
        &dir,
        "global go: bool = true;\nglobal spins: int = 0;\n",
        &[],
    );
    let mut a = svc.client();
    let mut b = svc.client();
    a.send(
        &json!({"type": "input", "id": 1, "text": "while go { spins += 1; }\nprint(\"a done\");"}),
    );
    // Wait until A's loop really runs.
    await_print(&svc, "spins > 0", "true\n", "A's loop never ran");
    let defs = b.input(1, "fn g() -> int { 5 }");
    assert!(ok_of(&defs), "{defs:?}");
    let out = b.input(2, "print(g());");
    assert_eq!(text_of(&out, "out"), "5\n");
    // A is still running, and it saw B's definition as a status line.
    let stop = b.input(3, "go = false;");
    assert!(ok_of(&stop), "{stop:?}");
    let a_msgs = a.until_result(1);
    assert!(ok_of(&a_msgs), "{a_msgs:?}");
    assert_eq!(text_of(&a_msgs, "out"), "a done\n", "only A's own output");
    assert!(
        a_msgs
            .iter()
            .any(|m| m["type"] == "event" && m["event"]["Defined"]["name"] == "g"),
        "A gets the status line: {a_msgs:?}"
    );
    assert!(
        defs.iter()
            .any(|m| m["type"] == "event" && m["event"]["Defined"]["name"] == "g"),
        "B too: {defs:?}"
    );
    assert!(!text_of(&out, "out").contains("a done"));
}

#[test]
fn interrupt_stops_only_that_clients_evaluation() {
    let dir = test_dir("interrupt");
    let svc = Service::start(&dir, APP, &[]);
    let mut a = svc.client();
    a.send(&json!({"type": "input", "id": 1, "text": "while true { hits += 1; }"}));
    await_print(&svc, "hits > 0", "true\n", "the loop never ran");
    a.send(&json!({"type": "interrupt"}));
    let msgs = a.until_result(1);
    assert!(!ok_of(&msgs));
    let err = msgs
        .iter()
        .find(|m| m["type"] == "runtime_error")
        .expect("an error");
    assert_eq!(err["error"]["kind"], "Interrupted");
    // The service goes on.
    assert_eq!(eval_print(&svc, "f(1)"), "2\n");
}

#[test]
fn malformed_and_oversized_messages_get_error_replies() {
    let dir = test_dir("bad_messages");
    let svc = Service::start(&dir, APP, &[]);
    let mut other = svc.client();
    let mut c = Client::raw(&svc.sock);
    c.send(&json!({"type": "input", "id": 1, "text": "1"}));
    let m = c.next();
    assert_eq!((&m["type"], &m["id"]), (&json!("error"), &json!(1)), "{m}");
    c.send(&json!({"type": "hello", "version": 1}));
    assert_eq!(c.next()["type"], "hello");
    c.send_raw(b"{\"type\": \"input\", \"id\": 2, \"text\": \n");
    let m = c.next();
    assert!(
        m["type"] == "error" && m["message"].as_str().unwrap().contains("malformed JSON"),
        "{m}"
    );
    c.send(&json!({"type": "launch", "id": 3}));
    let m = c.next();
    assert_eq!((&m["type"], &m["id"]), (&json!("error"), &json!(3)), "{m}");
    // A 100 MB line: read to its end and dropped, never held whole.
    let chunk = vec![b'x'; 1 << 20];
    c.send_raw(b"{\"type\":\"input\",\"id\":4,\"text\":\"");
    for _ in 0..100 {
        c.send_raw(&chunk);
    }
    c.send_raw(b"\"}\n");
    let m = c.next();
    assert!(
        m["type"] == "error" && m["message"].as_str().unwrap().contains("line limit"),
        "{m}"
    );
    // The connection, the other client and the session are intact.
    let msgs = c.input(5, "print(f(41));");
    assert_eq!(text_of(&msgs, "out"), "42\n");
    let msgs = other.input(1, "print(hits);");
    assert_eq!(text_of(&msgs, "out"), "0\n");
    // A version this service does not speak: an error, then the end of the connection.
    let mut future = Client::raw(&svc.sock);
    future.send(&json!({"type": "hello", "version": 99}));
    let m = future.next();
    assert!(
        m["type"] == "error" && m["message"].as_str().unwrap().contains("version 99"),
        "{m}"
    );
    let mut rest = String::new();
    use std::io::Read;
    let n = future.stream.read_to_string(&mut rest).unwrap();
    assert_eq!(n, 0, "the connection ends: {rest:?}");
}

#[test]
fn a_client_leaving_mid_line_or_mid_input_leaves_the_session_consistent() {
    let dir = test_dir("disconnect");
    let svc = Service::start(&dir, APP, &[]);
    {
        let mut c = svc.client();
        c.send_raw(b"{\"type\":\"input\",\"id\":1,\"text\":\"global half: int = 1;");
    }
    {
        let mut c = svc.client();
        c.send(&json!({"type": "input", "id": 1,
            "text": "sleep_ms(300);\nprint(\"orphan output\");\nhits = 99;"}));
    }
    // The whole input ran to its end though its client had gone; its output went to the
    // service's stdout.
    await_print(&svc, "hits", "99\n", "the orphaned input never finished");
    let start = Instant::now();
    while !svc.stdout().contains("orphan output") {
        assert!(start.elapsed() < DEADLINE, "stdout: {}", svc.stdout());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The half-sent line did nothing.
    let mut c = svc.client();
    let msgs = c.input(1, "half");
    assert!(!ok_of(&msgs), "{msgs:?}");
}

#[test]
fn the_socket_is_private_stale_ones_are_replaced_and_live_ones_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = test_dir("socket_file");
    // A stale socket: bound, then its listener gone.
    drop(std::os::unix::net::UnixListener::bind(dir.join("s.sock")).unwrap());
    assert!(dir.join("s.sock").exists());
    let mut svc = Service::start(&dir, APP, &[]);
    let mode = std::fs::metadata(&svc.sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let second = svc.run(&["serve", "app.src", "--control", "s.sock"], None);
    assert_eq!(second.code(), Some(1), "{}", second.report());
    assert!(
        second.stderr.contains("running service"),
        "{}",
        second.report()
    );
    // The first service still answers; SIGTERM removes its socket.
    assert_eq!(eval_print(&svc, "f(2)"), "3\n");
    assert_eq!(svc.stop(), Some(0));
    assert!(!dir.join("s.sock").exists());
}

#[test]
fn attach_runs_commands_in_the_service() {
    let dir = test_dir("attach_script");
    let svc = Service::start(&dir, APP, &[]);
    std::fs::write(dir.join("v2.src"), "fn f(x: int) -> int { x * 100 }\n").unwrap();
    let script = "\
fn f(x: int) -> int { x + 2 }
print(f(1));
:load v2.src
print(f(1));
:versions f
:rollback f
print(f(1));
:list
hits += 5;
:spawn f(4)
:wait
:quit
print(\"not reached\");
";
    let out = svc.run(&["attach", "s.sock"], Some(script));
    assert_eq!(out.code(), Some(0), "{}", out.report());
    common::find_lines_in_order("3\n100\n3\n", &out.stdout)
        .unwrap_or_else(|l| panic!("missing {l:?}\n{}", out.report()));
    assert!(out.stdout.contains("v1   freed"), "{}", out.report());
    assert!(out.stdout.contains("v3   live"), "{}", out.report());
    assert!(out.stdout.contains("v3"), "{}", out.report());
    assert!(
        out.stdout.contains("fn f(x: int) -> int  v4"),
        "{}",
        out.report()
    );
    assert!(
        out.stdout.contains("global hits: int = 0"),
        "{}",
        out.report()
    );
    assert!(out.stderr.contains("redefined f (v3)"), "{}", out.report());
    assert!(out.stderr.contains("task 1 ended: 6"), "{}", out.report());
    assert!(!out.stdout.contains("not reached"));
    // :quit detached; the service kept its state and is still running.
    assert_eq!(eval_print(&svc, "hits"), "5\n");
    let missing = svc.run(&["attach", "s.sock"], Some(":load nowhere.src\n"));
    assert_eq!(missing.code(), Some(1), "{}", missing.report());
    assert!(
        missing.stderr.contains("nowhere.src"),
        "{}",
        missing.report()
    );
    let none = svc.run(&["attach", "no.sock"], Some("1\n"));
    assert_eq!(none.code(), Some(2), "{}", none.report());
}

/// `:watch` through attach: the client watches its file and sends it again when it changes.
#[test]
fn attach_watches_its_own_files() {
    let dir = test_dir("attach_watch");
    let svc = Service::start(&dir, APP, &[]);
    std::fs::write(dir.join("w.src"), "fn w() -> int { 1 }\n").unwrap();
    let rewrite = {
        let (dir, sock) = (dir.clone(), svc.sock.clone());
        std::thread::spawn(move || {
            // Once the watch has loaded the file, change it (the script sleeps meanwhile).
            let start = Instant::now();
            loop {
                let mut c = Client::connect(&sock);
                if text_of(&c.input(1, "print(w());"), "out") == "1\n" {
                    break;
                }
                assert!(start.elapsed() < DEADLINE, "the watch never loaded w.src");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            std::fs::write(dir.join("w.src"), "fn w() -> int { 2 }\n").unwrap();
        })
    };
    let script = ":watch w.src\n:sleep 4000\nprint(w());\n:watch\n:unwatch w.src\n:watch\n";
    let out = svc.run(&["attach", "s.sock"], Some(script));
    rewrite.join().unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.report());
    assert!(
        out.stderr.contains("w.src changed, reloading"),
        "{}",
        out.report()
    );
    common::find_lines_in_order("2\nw.src\nno watched files\n", &out.stdout)
        .unwrap_or_else(|l| panic!("missing {l:?}\n{}", out.report()));
}

/// With `--http`: an attached client redefines `handle` and the next request gets the new
/// answer; a request's `print` goes to the service's stdout, not to the attached client.
#[test]
fn attach_redefines_the_handler_of_an_http_service() {
    let dir = test_dir("attach_http");
    let addr = free_loopback_addr();
    let svc = Service::start(
        &dir,
        "fn handle(method: str, path: str, body: str) -> str { print(\"request\", path); \"old\" }\n",
        &["--http", &addr],
    );
    let get = |path: &str| -> String {
        ureq::get(&format!("http://{addr}{path}"))
            .call()
            .expect("a 200")
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    let mut watcher = svc.client();
    assert_eq!(get("/a"), "old");
    let fix = "fn handle(method: str, path: str, body: str) -> str { \"new \" + path }\n";
    let out = svc.run(&["attach", "s.sock"], Some(fix));
    assert_eq!(out.code(), Some(0), "{}", out.report());
    assert!(
        out.stderr.contains("redefined handle (v2)"),
        "{}",
        out.report()
    );
    assert_eq!(get("/b"), "new /b");
    let start = Instant::now();
    while !svc.stdout().contains("request /a") {
        assert!(start.elapsed() < DEADLINE, "stdout: {}", svc.stdout());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let msgs = watcher.input(1, "print(1);");
    assert_eq!(
        text_of(&msgs, "out"),
        "1\n",
        "no request output here: {msgs:?}"
    );
    assert!(
        watcher.backlog.iter().all(|m| m["type"] != "output"),
        "{:?}",
        watcher.backlog
    );
}
