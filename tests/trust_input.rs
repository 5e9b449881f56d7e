//! Bounded input: stamp reads only regular files inside the repo, each of a
//! bounded size, and YAML of a bounded depth and expansion. Every refusal is
//! one error naming the path; nothing refused is read or echoed.
//!
//! Cases that add a bad file beside good ones can already prove that the
//! committed tree is byte-identical. Where an existing service or shared file
//! becomes unreadable, keeping its output is the catalog's and the build
//! gate's job (the path is in `Sources::problems()`): those tests assert the
//! exit code, the location and that the other services still build.

use std::io::Read as _;
use std::os::unix::fs::symlink;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::test::{Output, Test};

/// Runs stamp, failing the test (and killing stamp) if it takes longer than
/// `secs`: a FIFO or `/dev/zero` must never make it hang.
fn run_within(test: &Test, args: &[&str], secs: u64) -> Output {
    let mut child = Command::new(crate::test::binary())
        .arg("-C")
        .arg(test.path())
        .args(["--color", "never"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained while waiting, so a long message cannot fill the pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut text).unwrap();
            }
            String::from_utf8(text).unwrap()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            child.kill().unwrap();
            panic!("stamp {args:?} did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Output {
        code: child.wait().unwrap().code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// A built `basic` repo and its committed tree.
fn built() -> (Test, String) {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let tree = test.tree();
    (test, tree)
}

/// Builds, expecting exit 2 within 30 s and an error at `location`.
fn refused(test: &Test, location: &str) -> Output {
    let out = run_within(test, &["build"], 30);
    assert_eq!(out.code, 2, "stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!("error: {location}")),
        "expected an error at {location}, got:\n{}",
        out.stderr
    );
    out
}

const SECRET: &str = "aws_secret_access_key: hunter2";

/// A file outside the repo, with content that must never be printed.
fn outside_file() -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(file.path(), format!("name: web\n{SECRET}\n")).unwrap();
    file
}

#[test]
fn a_fifo_is_an_error_not_a_hang() {
    let (test, tree) = built();
    let fifo = test.path().join("catalog/services/queue.yaml");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let out = refused(&test, "catalog/services/queue.yaml:1:1:");
    insta::assert_snapshot!("fifo_build", out.messages());
    assert_eq!(test.tree(), tree);
    // check and diff read the same way.
    assert_eq!(run_within(&test, &["check"], 30).code, 2);
    let diff = run_within(&test, &["diff"], 30);
    assert_eq!(diff.code, 2, "{}", diff.stderr);
    insta::assert_snapshot!("fifo_diff", diff.messages());
}

#[test]
fn a_symlink_out_of_the_repo_is_never_read() {
    let (test, tree) = built();
    let outside = outside_file();
    symlink(outside.path(), test.path().join("catalog/services/leak.yaml")).unwrap();
    let out = refused(&test, "catalog/services/leak.yaml:1:1:");
    insta::assert_snapshot!("symlink_out_of_the_repo", out.messages());
    assert!(!out.stderr.contains("hunter2"), "content echoed:\n{}", out.stderr);
    let json = run_within(&test, &["build", "--format", "json"], 30);
    assert!(!json.stdout.contains("hunter2") && !json.stderr.contains("hunter2"));
    assert_eq!(test.tree(), tree);
}

#[test]
fn a_symlink_to_dev_zero_is_not_read() {
    let (test, tree) = built();
    symlink("/dev/zero", test.path().join("components/pdb/zero.yaml.j2")).unwrap();
    let start = Instant::now();
    refused(&test, "components/pdb/zero.yaml.j2:1:1:");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(test.tree(), tree);
}

#[test]
fn a_symlinked_folder_out_of_the_repo_names_its_path() {
    let (test, tree) = built();
    let outside = tempfile::tempdir().unwrap();
    test::copy_tree(&test.path().join("components/hpa"), outside.path());
    symlink(outside.path(), test.path().join("components/extra")).unwrap();
    let out = refused(&test, "components/extra:1:1:");
    assert!(!out.stderr.contains("Is a directory"), "{}", out.stderr);
    assert_eq!(test.tree(), tree);
}

#[test]
fn symlinks_inside_the_repo_are_read() {
    let (test, tree) = built();
    // A template and a whole component kept elsewhere in the repo.
    let shared = test.path().join("shared");
    std::fs::create_dir_all(shared.join("hpa")).unwrap();
    test::copy_tree(&test.path().join("components/hpa"), &shared.join("hpa"));
    std::fs::remove_dir_all(test.path().join("components/hpa")).unwrap();
    symlink("../shared/hpa", test.path().join("components/hpa")).unwrap();
    std::fs::rename(
        test.path().join("archetypes/api/service.yaml.j2"),
        shared.join("service.yaml.j2"),
    )
    .unwrap();
    symlink(
        "../../shared/service.yaml.j2",
        test.path().join("archetypes/api/service.yaml.j2"),
    )
    .unwrap();
    run_within(&test, &["build", "--no-cache"], 30);
    let out = run_within(&test, &["check", "--no-cache"], 30);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(test.tree(), tree);
}

#[test]
fn a_symlink_loop_is_an_error() {
    let (test, tree) = built();
    symlink(".", test.path().join("components/loop")).unwrap();
    refused(&test, "components/loop:1:1:");
    assert_eq!(test.tree(), tree);
}

#[test]
fn an_oversized_file_is_not_read() {
    let (test, tree) = built();
    let big = format!("name: big\n# {}\n", "x".repeat(5 << 20));
    test.write("catalog/services/big.yaml", &big);
    let out = refused(&test, "catalog/services/big.yaml:1:1:");
    insta::assert_snapshot!("oversized_file", out.messages());
    assert_eq!(test.tree(), tree);
}

#[test]
fn a_new_file_that_is_not_utf8_is_one_error_at_its_first_bad_byte() {
    let (test, tree) = built();
    std::fs::write(
        test.path().join("catalog/services/latin.yaml"),
        b"name: latin\nowners:\n  team: caf\xe9\n",
    )
    .unwrap();
    let out = refused(&test, "catalog/services/latin.yaml:3:12:");
    assert_eq!(out.stderr.matches("error:").count(), 1, "{}", out.stderr);
    assert_eq!(test.tree(), tree);
}

#[test]
fn a_service_file_that_is_not_utf8_does_not_stop_the_others() {
    let (test, before) = built();
    let web_output: Vec<String> = before
        .split("=== ")
        .filter(|f| f.starts_with("generated/web/"))
        .map(String::from)
        .collect();
    let mut web = test.read("catalog/services/web.yaml").into_bytes();
    web.extend_from_slice(b"# \xff\n");
    std::fs::write(test.path().join("catalog/services/web.yaml"), web).unwrap();
    test.edit("catalog/services/report.yaml", "\"0.1.0\"", "\"0.2.0\"");
    let out = refused(&test, "catalog/services/web.yaml:20:3:");
    insta::assert_snapshot!("service_file_not_utf8", out.messages());
    assert!(
        test.read("generated/report/prod/us/manifests.yaml")
            .contains("ghcr.io/example/report:0.2.0"),
        "the other services still build:\n{}",
        out.stderr
    );
    // web's last good output is kept, byte for byte, not removed.
    let after = test.tree();
    let kept: Vec<&str> = after
        .split("=== ")
        .filter(|f| f.starts_with("generated/web/"))
        .collect();
    assert_eq!(kept, web_output);
}

#[test]
fn a_shared_file_that_becomes_a_fifo_fails_closed() {
    let (test, tree) = built();
    std::fs::remove_file(test.path().join("catalog/sizes.yaml")).unwrap();
    let status = Command::new("mkfifo")
        .arg(test.path().join("catalog/sizes.yaml"))
        .status()
        .unwrap();
    assert!(status.success());
    let out = refused(&test, "catalog/sizes.yaml:1:1:");
    insta::assert_snapshot!("shared_file_fifo", out.messages());
    assert_eq!(test.tree(), tree);
}

#[test]
fn a_yaml_alias_bomb_stops_at_the_bound() {
    let (test, tree) = built();
    let mut bomb = String::from("name: bomb\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        bomb += &format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(", "));
    }
    test.write("catalog/services/bomb.yaml", &bomb);
    let out = refused(&test, "catalog/services/bomb.yaml:7:");
    insta::assert_snapshot!("alias_bomb", out.messages());
    assert_eq!(test.tree(), tree);
}

#[test]
fn deeply_nested_yaml_is_an_error_not_a_crash() {
    let (test, tree) = built();
    let deep: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    test.write("catalog/services/deep.yaml", &format!("name: deep\n{deep}"));
    let out = refused(&test, "catalog/services/deep.yaml:66:");
    insta::assert_snapshot!("deeply_nested", out.messages());
    test.write(
        "catalog/services/deep.yaml",
        &format!("name: deep\nk: {}", "[".repeat(100_000)),
    );
    refused(&test, "catalog/services/deep.yaml:2:");
    assert_eq!(test.tree(), tree);
}

#[test]
fn a_tab_is_reported_on_its_own_line() {
    let (test, tree) = built();
    test.edit("catalog/services/web.yaml", "\nsize: small", "\n\tsize: small");
    refused(&test, "catalog/services/web.yaml:3:1:");
    assert_eq!(test.tree(), tree);
}

#[test]
fn validate_does_not_follow_symlinks_or_read_fifos() {
    let (test, tree) = built();
    // A manifest swapped for a link to a file outside the repo.
    let outside = outside_file();
    let manifest = test.path().join("generated/web/dev/eu/manifests.yaml");
    let original = std::fs::read(&manifest).unwrap();
    std::fs::remove_file(&manifest).unwrap();
    symlink(outside.path(), &manifest).unwrap();
    let out = run_within(&test, &["validate"], 30);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("validate_symlinked_manifest", out.messages());
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);

    // A folder of targets linked from outside.
    std::fs::remove_file(&manifest).unwrap();
    std::fs::write(&manifest, original).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    test::copy_tree(&test.path().join("generated/web/prod"), elsewhere.path());
    std::fs::remove_dir_all(test.path().join("generated/web/prod")).unwrap();
    symlink(elsewhere.path(), test.path().join("generated/web/prod")).unwrap();
    let out = run_within(&test, &["validate"], 30);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("validate_symlinked_folder", out.messages());
    std::fs::remove_file(test.path().join("generated/web/prod")).unwrap();
    test::copy_tree(elsewhere.path(), &{
        let dir = test.path().join("generated/web/prod");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    });
    assert_eq!(test.tree(), tree);

    // A FIFO where a manifest should be.
    std::fs::remove_file(&manifest).unwrap();
    assert!(Command::new("mkfifo").arg(&manifest).status().unwrap().success());
    let out = run_within(&test, &["validate"], 30);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("validate_fifo", out.messages());
}

#[test]
fn a_git_revision_is_read_under_the_same_bounds() {
    let (test, _) = built();
    let outside = outside_file();
    symlink(outside.path(), test.path().join("catalog/services/leak.yaml")).unwrap();
    symlink("../shared-notes.txt", test.path().join("catalog/dangling.yaml")).unwrap();
    test.commit("base with a link out of the repo");
    std::fs::remove_file(test.path().join("catalog/services/leak.yaml")).unwrap();
    std::fs::remove_file(test.path().join("catalog/dangling.yaml")).unwrap();
    let out = run_within(&test, &["diff", "--base", "HEAD"], 30);
    assert!(
        !out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"),
        "{}",
        out.stderr
    );
    insta::assert_snapshot!("git_revision_bounds", out.messages());
}

#[test]
fn a_git_revision_follows_symlinks_inside_it() {
    let (test, tree) = built();
    let shared = test.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    test::copy_tree(&test.path().join("components/hpa"), &shared);
    std::fs::remove_dir_all(test.path().join("components/hpa")).unwrap();
    symlink("../shared", test.path().join("components/hpa")).unwrap();
    test.commit("hpa kept in shared/");
    let out = run_within(&test, &["diff", "--base", "HEAD", "--stat"], 30);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "0 targets, 0 other files\n");
    assert_eq!(test.tree(), tree);
}

mod test {
    pub use crate::test::copy_tree;
}

#[path = "trust_input_fuzz.rs"]
mod fuzz;
