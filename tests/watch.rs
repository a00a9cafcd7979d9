//! `:watch FILE`: a saved change is reloaded without any command, and only what changed gets a
//! new version; `:unwatch` stops it.

mod common;

use common::run_script;
use std::time::Duration;

#[test]
fn watch_reloads_a_saved_file_until_unwatched() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("watch_test");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("w.src");
    std::fs::write(&file, "fn f() -> int { 1 }\nfn g() -> int { 10 }\n").unwrap();
    let script = "\
:watch w.src
print(f(), g());
:sleep 2500
print(f(), g());
:versions f
:versions g
:unwatch w.src
:sleep 1200
print(f());
";
    let editor = {
        let file = file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(800));
            std::fs::write(&file, "fn f() -> int { 2 }\nfn g() -> int { 10 }\n").unwrap();
            std::thread::sleep(Duration::from_millis(2700));
            // After :unwatch, saves are ignored.
            std::fs::write(&file, "fn f() -> int { 3 }\nfn g() -> int { 10 }\n").unwrap();
        })
    };
    let o = run_script(&dir, script, Duration::from_secs(60));
    editor.join().unwrap();
    let report = o.report();
    assert_eq!(o.code(), Some(0), "{report}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"1 10"), "{report}");
    assert_eq!(lines.get(1), Some(&"2 10"), "{report}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("v2") && l.contains("live")),
        "{report}"
    );
    // g did not change: one version only.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("v2")).count(),
        1,
        "{report}"
    );
    assert_eq!(lines.last(), Some(&"2"), "{report}");
    assert!(o.stderr.contains("w.src changed, reloading"), "{report}");
}
