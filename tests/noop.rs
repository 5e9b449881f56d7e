//! The no-op fast path answers from the stat snapshot of the last clean run
//! and never skips a real change: each case settles a built repo (so the
//! next build takes the fast path), changes one thing in a way a stat of
//! size and mtime alone would miss where it can, and expects the full
//! path's answer, byte for byte a clean build.

use std::fs::File;
use std::time::{Duration, SystemTime};

use crate::test::{Output, Test};

/// Runs a command with stage timings on; whether it took the fast path
/// (no input was parsed).
fn run(test: &Test, args: &[&str], code: i32) -> (Output, bool) {
    let output = test.command(args).env("STAMP_TIMINGS", "1").assert().code(code);
    let stderr = String::from_utf8(output.get_output().stderr.clone()).unwrap();
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let fast = !stderr.contains("timing: parse");
    (Output { code, stdout, stderr }, fast)
}

/// A built repo whose next build takes the fast path. Files written less
/// than the racy window ago are not vouched for by stat, hence the pause.
fn settled() -> Test {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    settle(&test, &["build"]);
    test
}

/// Waits out the racy window and runs `args` until they take the fast path.
fn settle(test: &Test, args: &[&str]) {
    std::thread::sleep(Duration::from_millis(120));
    run(test, args, 0);
    let (_, fast) = run(test, args, 0);
    assert!(fast, "`{}` did not settle on the fast path", args.join(" "));
}

/// The file's modification time, to put back after an edit.
fn mtime(test: &Test, path: &str) -> SystemTime {
    std::fs::metadata(test.path().join(path)).unwrap().modified().unwrap()
}

fn set_mtime(test: &Test, path: &str, time: SystemTime) {
    File::options()
        .write(true)
        .open(test.path().join(path))
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// Replaces `from` with `to` (same length) and sets the mtime back: size
/// and mtime as before, only the inode's change time moves.
fn edit_in_place(test: &Test, path: &str, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let before = mtime(test, path);
    test.edit(path, from, to);
    set_mtime(test, path, before);
}

/// The build after a change takes the full path, and its output is byte
/// for byte a clean build's; then the repo settles on the fast path again.
fn full_path_equals_clean(test: &Test, rendered: &str) {
    let (out, fast) = run(test, &["build"], 0);
    assert!(!fast, "the change went unseen:\n{}", out.stderr);
    assert!(out.summary().contains(rendered), "{}", out.summary());
    let incremental = test.tree();
    settle(test, &["build"]);
    let kept = test.tree();
    std::fs::remove_dir_all(test.path().join("generated")).unwrap();
    test.expect(&["build", "--no-cache"], 0);
    assert_eq!(incremental, test.tree());
    assert_eq!(kept, test.tree());
}

#[test]
fn nothing_changed_answers_like_the_full_path() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    std::thread::sleep(Duration::from_millis(120));
    // Whether the first build took a snapshot depends on how long ago the
    // fixture was written; without one, the next build takes the full path.
    let _ = std::fs::remove_file(test.path().join("generated/.stamp-snapshot"));
    let (full, fast) = run(&test, &["build"], 0);
    assert!(!fast);
    let (quick, fast) = run(&test, &["build"], 0);
    assert!(fast, "{}", quick.stderr);
    assert_eq!(quick.summary(), full.summary());
    let json = |out: &Output| -> serde_json::Value { serde_json::from_str(&out.stdout).unwrap() };
    let (quick, fast) = run(&test, &["build", "--format", "json"], 0);
    assert!(fast);
    assert_eq!(
        json(&quick),
        serde_json::json!({
            "targets": 7, "services": 3, "rendered": 0, "objects": 0,
            "failed_targets": 0, "written": [], "removed": [], "unchanged": 25,
            "shared_inputs_broken": false, "errors": []
        })
    );
}

#[test]
fn a_touch_without_a_change_takes_the_full_path_once() {
    let test = settled();
    set_mtime(&test, "catalog/services/web.yaml", SystemTime::now());
    full_path_equals_clean(&test, "(0 rendered");
}

#[test]
fn a_service_edit_of_the_same_size_and_mtime_is_seen() {
    let test = settled();
    edit_in_place(&test, "catalog/services/web.yaml", "\"1.0.0\"", "\"1.0.1\"");
    full_path_equals_clean(&test, "(1 rendered");
}

#[test]
fn a_service_file_replaced_by_rename_is_seen() {
    let test = settled();
    let path = "catalog/services/web.yaml";
    let before = mtime(&test, path);
    let text = test.read(path).replacen("\"1.0.0\"", "\"1.0.1\"", 1);
    test.write("catalog/web.yaml.new", &text);
    set_mtime(&test, "catalog/web.yaml.new", before);
    std::fs::rename(test.path().join("catalog/web.yaml.new"), test.path().join(path)).unwrap();
    full_path_equals_clean(&test, "(1 rendered");
}

/// An editor's save (a new file renamed over the old) right before the
/// hook leaves the services folder racily clean: the build vouches for it
/// by its listing, so the next run still takes the fast path, and a file
/// added to that folder later is still seen.
#[test]
fn an_edit_just_before_the_build_keeps_the_fast_path() {
    let test = settled();
    let path = "catalog/services/web.yaml";
    let text = test.read(path).replacen("\"1.0.0\"", "\"1.0.1\"", 1);
    test.write("catalog/services/.web.yaml.swp", &text);
    std::fs::rename(
        test.path().join("catalog/services/.web.yaml.swp"),
        test.path().join(path),
    )
    .unwrap();
    let (_, fast) = run(&test, &["build"], 0);
    assert!(!fast, "the edit went unseen");
    std::thread::sleep(Duration::from_millis(120));
    let (out, fast) = run(&test, &["build"], 0);
    assert!(fast, "the edit's build kept no snapshot:\n{}", out.stderr);
    let web = test.read(path);
    test.write("catalog/services/api.yaml", &web.replace("name: web", "name: api"));
    full_path_equals_clean(&test, "rendered");
}

#[test]
fn a_changed_shared_file_is_seen() {
    let test = settled();
    edit_in_place(&test, "catalog/sizes.yaml", "max: 10", "max: 12");
    full_path_equals_clean(&test, "(2 rendered");
}

#[test]
fn a_new_service_file_is_seen() {
    let test = settled();
    let web = test.read("catalog/services/web.yaml");
    test.write(
        "catalog/services/web2.yaml",
        &web.replacen("name: web", "name: web2", 1),
    );
    full_path_equals_clean(&test, "(3 rendered");
}

#[test]
fn a_deleted_target_folder_is_restored() {
    let test = settled();
    std::fs::remove_dir_all(test.path().join("generated/web/prod")).unwrap();
    full_path_equals_clean(&test, "(2 rendered");
}

#[test]
fn a_hand_edited_output_of_the_same_size_and_mtime_is_restored() {
    let test = settled();
    edit_in_place(
        &test,
        "generated/jobs/dev/eu/manifests.yaml",
        "replicas: 2",
        "replicas: 9",
    );
    full_path_equals_clean(&test, "(1 rendered");
}

#[test]
fn a_stray_output_folder_is_removed() {
    let test = settled();
    let manifests = test.read("generated/web/dev/eu/manifests.yaml");
    test.write("generated/web/old/eu/manifests.yaml", &manifests);
    full_path_equals_clean(&test, "(0 rendered");
    assert!(!test.exists("generated/web/old"));
}

#[test]
fn check_takes_the_fast_path_only_for_what_it_rendered_and_still_sees_drift() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    settle(&test, &["check"]);
    let (out, fast) = run(&test, &["check"], 0);
    assert!(fast);
    assert!(
        out.stderr.contains("up to date: 7 targets of 3 services"),
        "{}",
        out.stderr
    );
    edit_in_place(
        &test,
        "generated/jobs/dev/eu/manifests.yaml",
        "replicas: 2",
        "replicas: 9",
    );
    let (out, fast) = run(&test, &["check"], 1);
    assert!(!fast);
    assert!(out.stdout.contains("-  replicas: 9"), "{}", out.stdout);
}

#[test]
fn a_snapshot_from_another_binary_or_day_is_not_used() {
    let test = settled();
    let out = test
        .command(&["build"])
        .env("STAMP_TIMINGS", "1")
        .env("STAMP_TODAY", "2099-01-01")
        .assert()
        .code(0);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("timing: parse"), "{stderr}");
}
