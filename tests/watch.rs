//! `stamp watch` on a real repo: edits as editors make them, errors that
//! never end the watch, a clean exit on Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::test::Test;

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `stamp watch` on `test`, its stdout lines on a channel, once the initial
/// build is reported (returned) and the watcher has settled.
pub(crate) fn spawn_watch(test: &Test) -> (Child, Receiver<String>, String) {
    let mut child = Command::new(crate::test::binary())
        .arg("-C")
        .arg(test.path())
        .arg("watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = line_with(&lines, "initial build");
    // Let the watcher settle before the first edit.
    std::thread::sleep(Duration::from_millis(300));
    (child, lines, first)
}

/// The next stdout line that contains `needle`, its timing (`in 12ms`)
/// replaced by `in [time]` so it can be compared whole.
pub(crate) fn line_with(lines: &Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return without_timing(&line),
            Ok(_) => {}
            Err(_) => panic!("no line containing {needle:?}"),
        }
    }
}

fn without_timing(line: &str) -> String {
    let Some(at) = line.find(" removed in ") else {
        return line.to_string();
    };
    let start = at + " removed in ".len();
    let end = line[start..].find(',').map_or(line.len(), |i| start + i);
    format!("{}[time]{}", &line[..start], &line[end..])
}

#[test]
fn watch_rebuilds_on_every_kind_of_save_and_stops_on_ctrl_c() {
    let test = Test::fixture("basic");
    let (mut child, lines, first) = spawn_watch(&test);
    assert_eq!(
        first,
        "initial build: 7 targets re-rendered, 25 files written, 0 removed in [time]"
    );

    // An editor's save: write a temporary file, then rename it over the original.
    let web = test.read("catalog/services/web.yaml").replace("\"1.0.0\"", "\"1.0.1\"");
    test.write("catalog/services/.web.yaml.swp", &web);
    std::fs::rename(
        test.path().join("catalog/services/.web.yaml.swp"),
        test.path().join("catalog/services/web.yaml"),
    )
    .unwrap();
    let line = line_with(&lines, "catalog/services/web.yaml");
    assert_eq!(
        line,
        "catalog/services/web.yaml: 1 targets re-rendered, 2 files written, 0 removed in [time]"
    );
    assert!(test.read("generated/web/dev/eu/manifests.yaml").contains("web:1.0.1"));

    // Several files saved at once (a branch switch, a search-and-replace).
    let jobs = test
        .read("catalog/services/jobs.yaml")
        .replace("\"2.1.0\"", "\"2.2.0\"");
    let report = test
        .read("catalog/services/report.yaml")
        .replace("\"0.1.0\"", "\"0.2.0\"");
    test.write("catalog/services/jobs.yaml", &jobs);
    test.write("catalog/services/report.yaml", &report);
    wait_for("both services' output", || {
        test.read("generated/jobs/dev/eu/manifests.yaml").contains("jobs:2.2.0")
            && test
                .read("generated/report/prod/eu/manifests.yaml")
                .contains("report:0.2.0")
    });
    line_with(&lines, "catalog/services/");

    // A new service file.
    test.write("catalog/services/extra.yaml", &web.replace("name: web", "name: extra"));
    line_with(&lines, "catalog/services/extra.yaml");
    wait_for("extra's output", || {
        test.exists("generated/extra/prod/us/manifests.yaml")
    });

    // A broken save reports errors and keeps watching.
    test.write("catalog/services/extra.yaml", "name: extra\nprofile: [\n");
    let line = line_with(&lines, "catalog/services/extra.yaml");
    assert_eq!(
        line,
        "catalog/services/extra.yaml: 0 targets re-rendered, 0 files written, 0 removed in [time], 1 error (the last good output is kept)"
    );
    assert!(
        test.exists("generated/extra/prod/us/manifests.yaml"),
        "the last good output is kept"
    );

    // Deleting the service removes its output.
    test.remove("catalog/services/extra.yaml");
    line_with(&lines, "catalog/services/extra.yaml");
    wait_for("extra's output to go", || !test.exists("generated/extra"));

    // Ctrl-C.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "watch did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    test.expect(&["check"], 0);
}

#[test]
fn watch_keeps_the_output_when_shared_inputs_break() {
    let test = Test::fixture("basic");
    let (mut child, lines, _) = spawn_watch(&test);
    let good = test.tree();

    // A broken shared file: one line says the output is kept, and it is.
    let sizes = test.read("catalog/sizes.yaml");
    test.write("catalog/sizes.yaml", &sizes.replace("max: 4,", "max: 4x,"));
    let line = line_with(&lines, "catalog/sizes.yaml");
    assert_eq!(
        line,
        "catalog/sizes.yaml: shared inputs have errors (1 error): nothing written or removed, the committed output is kept"
    );
    assert_eq!(test.tree(), good);
    test.write("catalog/sizes.yaml", &sizes);
    let line = line_with(&lines, "catalog/sizes.yaml");
    assert_eq!(
        line,
        "catalog/sizes.yaml: 0 targets re-rendered, 0 files written, 0 removed in [time]"
    );

    // A broken component, used by most targets.
    let pdb = test.read("components/pdb/component.kdl");
    test.write(
        "components/pdb/component.kdl",
        &pdb.replace("name \"pdb\"", "name \"pdx\""),
    );
    let line = line_with(&lines, "components/pdb/component.kdl");
    assert_eq!(
        line,
        "components/pdb/component.kdl: shared inputs have errors (1 error): nothing written or removed, the committed output is kept"
    );
    assert_eq!(test.tree(), good);

    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn timings_are_masked_whole() {
    assert_eq!(
        without_timing("x: 1 targets re-rendered, 2 files written, 0 removed in 1.2ms, 1 error (kept)"),
        "x: 1 targets re-rendered, 2 files written, 0 removed in [time], 1 error (kept)"
    );
}
