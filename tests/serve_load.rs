//! Under load: while a load generator keeps `livejit serve --http` busy on keep-alive
//! connections, 200 redefinitions of `handle` are pushed through the control socket. Not one
//! request may fail, every body must come from an installed version (and, per connection,
//! never from an older version than the previous response's), and at the end every version
//! but the live one must be freed. The RSS growth per redefinition is printed.

mod common;

use common::service::{free_loopback_addr, test_dir, Service, DEADLINE};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections of the load generator.
const CONNECTIONS: usize = 8;

/// Redefinitions pushed while the load runs: 200, or `LIVEJIT_LOAD_REDEFINITIONS` (to see
/// whether RSS keeps growing over a longer run).
fn redefinitions() -> u64 {
    std::env::var("LIVEJIT_LOAD_REDEFINITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn handler(version: u64) -> String {
    format!("fn handle(method: str, path: str, body: str) -> str {{ \"{version}\" }}\n")
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What one connection of the load generator saw.
#[derive(Default)]
struct Seen {
    requests: u64,
    failures: Vec<String>,
    /// Bodies that are not an installed version, or older than the one before.
    wrong: Vec<String>,
}

#[test]
fn two_hundred_redefinitions_under_load_drop_nothing() {
    let redefinitions = redefinitions();
    let dir = test_dir("serve_load");
    let addr = free_loopback_addr();
    let mut svc = Service::start(&dir, &handler(0), &["--http", &addr]);
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (stop, url) = (stop.clone(), format!("http://{addr}/"));
            std::thread::spawn(move || {
                // One agent: one keep-alive connection, reused for every request.
                let agent = ureq::Agent::new_with_defaults();
                let mut seen = Seen::default();
                let mut last = 0;
                while !stop.load(SeqCst) {
                    seen.requests += 1;
                    let body = agent
                        .get(&url)
                        .call()
                        .map_err(|e| e.to_string())
                        .and_then(|mut r| r.body_mut().read_to_string().map_err(|e| e.to_string()));
                    match body {
                        Ok(b) => match b.parse::<u64>() {
                            Ok(v) if v <= redefinitions && v >= last => last = v,
                            _ => seen.wrong.push(format!("{b:?} after {last}")),
                        },
                        Err(e) => seen.failures.push(e),
                    }
                }
                seen
            })
        })
        .collect();
    let mut c = svc.client();
    // Let the load start, then measure.
    std::thread::sleep(Duration::from_millis(200));
    let rss_before = rss_kib(svc.child.id());
    let start = Instant::now();
    for v in 1..=redefinitions {
        c.send(&json!({"type": "push", "id": v,
            "files": [{"path": "handle.src", "text": handler(v)}]}));
        let msgs = c.until_result(v);
        let result = msgs.last().unwrap();
        assert_eq!(result["installed"], true, "push {v}: {msgs:?}");
        assert_eq!(result["ok"], true, "push {v}: {msgs:?}");
    }
    let pushing = start.elapsed();
    let rss_after = rss_kib(svc.child.id());
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, SeqCst);
    let seen: Vec<Seen> = load.into_iter().map(|t| t.join().unwrap()).collect();
    let requests: u64 = seen.iter().map(|s| s.requests).sum();
    let failures: Vec<&String> = seen.iter().flat_map(|s| &s.failures).collect();
    let wrong: Vec<&String> = seen.iter().flat_map(|s| &s.wrong).collect();
    println!(
        "serve_load: {requests} requests on {CONNECTIONS} connections, {} failed, {} wrong; \
         {redefinitions} redefinitions pushed in {:.2} s; RSS {rss_before} KiB -> {rss_after} KiB \
         ({:+.1} KiB per redefinition)",
        failures.len(),
        wrong.len(),
        pushing.as_secs_f64(),
        (rss_after as f64 - rss_before as f64) / redefinitions as f64
    );
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(
        wrong.is_empty(),
        "bodies from no installed version: {wrong:?}"
    );
    assert!(
        requests > redefinitions,
        "the load never ran: {requests} requests"
    );
    // Every version but the live one is freed once no request is in it.
    let start = Instant::now();
    loop {
        let msgs = c.input(redefinitions + 1, ":versions handle");
        let rows = msgs
            .iter()
            .find(|m| m["type"] == "versions")
            .map(|m| m["rows"].as_array().unwrap().clone())
            .expect(":versions answers with rows");
        assert_eq!(rows.len() as u64, redefinitions + 1);
        let unfreed: Vec<_> = rows.iter().filter(|r| r["state"] != "Freed").collect();
        if unfreed.len() == 1 && unfreed[0]["state"] == "Live" {
            assert_eq!(rows.last().unwrap()["state"], "Live");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "still unfreed: {unfreed:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(svc.stop(), Some(0), "{}", svc.stderr());
}
