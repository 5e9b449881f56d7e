//! Newcomer papercuts: `--help`, `--version`, the pre-commit `rev` and the
//! workflow `init` writes, and `new` errors that name the argument.

use std::path::Path;
use std::process::Command;

use crate::test::Test;

/// Runs stamp in `dir`, expects success and returns stdout.
fn stdout(args: &[&str], dir: &Path) -> String {
    let assert = crate::test::stamp().args(args).current_dir(dir).assert().success();
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

/// The commit of the source tree the tests run from, when it is a git checkout.
fn source_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--verify", "HEAD^{commit}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
}

#[test]
fn help_lists_global_flags_once() {
    let test = Test::empty();
    let top = stdout(&["--help"], test.path());
    insta::assert_snapshot!("help_top", top);
    let build = stdout(&["build", "--help"], test.path());
    insta::assert_snapshot!("help_build", build);
    // Each global flag is described in `stamp --help` and only named here.
    for described in [
        "Threads to render with",
        "Repo root",
        "When to color",
        "Print only errors",
    ] {
        assert!(top.contains(described), "{described}");
        assert!(!build.contains(described), "{described} repeated in `build --help`");
    }
    assert!(build.contains("Global options: -C <DIR>, -j <N>, --format <FORMAT>, --color <WHEN>, -q"));
    assert!(!build.contains("github-matrix"));
    assert!(!top.contains("- github-matrix"), "offered where it does not apply");
    let affected = stdout(&["affected", "--help"], test.path());
    assert!(affected.contains("github-matrix: "), "{affected}");
}

#[test]
fn every_subcommand_and_flag_has_help() {
    let mut command = stamp::cli::Cli::command_line();
    command.build();
    let mut missing = Vec::new();
    for sub in std::iter::once(&command).chain(command.get_subcommands()) {
        if sub.get_about().is_none() {
            missing.push(sub.get_name().to_string());
        }
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            if arg.get_help().is_none() {
                missing.push(format!("{} {}", sub.get_name(), arg.get_id()));
            }
        }
    }
    assert_eq!(missing, Vec::<String>::new(), "no help text");
}

#[test]
fn global_flags_work_before_and_after_the_subcommand() {
    let test = Test::fixture("basic");
    let before = test.expect(&["--format", "json", "explain", "web", "--env", "prod"], 0);
    let after = test.expect(&["explain", "web", "--env", "prod", "--format", "json"], 0);
    assert_eq!(before.stdout, after.stdout);
    assert!(before.stdout.starts_with('['), "{}", before.stdout);
    test.expect(&["build", "-q"], 0);
    test.commit("base");
    let json = test.expect(&["--format", "json", "affected", "--base", "HEAD"], 0);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(parsed["targets"], serde_json::json!([]));
    let matrix = test.expect(&["affected", "--base", "HEAD", "--format", "github-matrix"], 0);
    assert!(matrix.stdout.starts_with("{\"include\":"), "{}", matrix.stdout);
}

#[test]
fn github_matrix_is_refused_where_it_does_not_apply() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let before = test.tree();
    for args in [
        &["build", "--format", "github-matrix"][..],
        &["--format", "github-matrix", "check"][..],
    ] {
        let out = test.expect(args, 2);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
        assert_eq!(
            out.messages(),
            "error: `--format github-matrix` is only for `stamp affected`\nhint: `stamp affected --base REV --format github-matrix`\n"
        );
        assert!(out.stderr.contains("Usage: stamp"), "clap's usage line: {}", out.stderr);
    }
    let out = test.expect(&["build", "--format", "yaml"], 2);
    assert_eq!(
        out.messages(),
        "error: `--format yaml` is not a format: use `text` or `json`\n"
    );
    assert_eq!(test.tree(), before);
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let test = Test::empty();
    let version = stdout(&["--version"], test.path());
    let expected = match source_commit() {
        Some(commit) => format!("stamp {} (commit {commit})\n", env!("CARGO_PKG_VERSION")),
        None => format!("stamp {}\n", env!("CARGO_PKG_VERSION")),
    };
    assert_eq!(version, expected);
}

/// The workflow's step that reads the pinned stamp commit, run as GitHub
/// would: `bash -e` with `GITHUB_OUTPUT`; returns its exit code and output.
fn run_pin_step(repo: &Path) -> (i32, String, String) {
    let workflow: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(repo.join(".github/workflows/platform.yml")).unwrap()).unwrap();
    let step = workflow["jobs"]["stamp"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some("stamp"))
        .expect("a step with id `stamp`");
    let output = repo.join("github-output");
    std::fs::write(&output, "").unwrap();
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-e", "-o", "pipefail", "-c"])
        .arg(step["run"].as_str().unwrap())
        .env("GITHUB_OUTPUT", &output)
        .current_dir(repo)
        .output()
        .unwrap();
    let written = std::fs::read_to_string(&output).unwrap();
    std::fs::remove_file(&output).unwrap();
    (
        out.status.code().unwrap_or(-1),
        written,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn init_pins_the_build_commit_for_pre_commit_and_ci() {
    let test = Test::empty();
    crate::test::stamp()
        .args(["init", "platform"])
        .current_dir(test.path())
        .assert()
        .success();
    let repo = test.path().join("platform");
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    for workflow in [
        ".github/workflows/platform.yml",
        ".github/workflows/validate-matrix.yml",
    ] {
        assert_eq!(
            std::fs::read_to_string(repo.join(workflow)).unwrap(),
            std::fs::read_to_string(source.join(workflow)).unwrap(),
            "init's {workflow} differs from the repo's"
        );
    }
    let config = std::fs::read_to_string(repo.join(".pre-commit-config.yaml")).unwrap();
    let parsed: serde_norway::Value = serde_norway::from_str(&config).unwrap();
    let entry = &parsed["repos"][0];
    let Some(commit) = source_commit() else {
        // Built outside a git checkout: the hook uses the stamp on PATH, and
        // CI's pin step says what to add.
        assert_eq!(entry["repo"].as_str(), Some("local"));
        let (code, written, said) = run_pin_step(&repo);
        assert_eq!((code, written.as_str()), (1, ""));
        assert!(said.contains("::error file=.pre-commit-config.yaml::"), "{said}");
        return;
    };
    assert_eq!(entry["repo"].as_str(), Some("https://github.com/acme/stamp"));
    assert_eq!(entry["rev"].as_str(), Some(commit.as_str()));
    assert_eq!(entry["hooks"][0]["id"].as_str(), Some("stamp-check"));
    // A hook id the repository's .pre-commit-hooks.yaml really offers.
    let hooks: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(source.join(".pre-commit-hooks.yaml")).unwrap()).unwrap();
    assert!(
        hooks
            .as_sequence()
            .unwrap()
            .iter()
            .any(|h| h["id"].as_str() == Some("stamp-check"))
    );
    // CI installs the very commit the hook pins.
    let (code, written, said) = run_pin_step(&repo);
    assert_eq!(code, 0, "{said}");
    assert_eq!(written, format!("rev={commit}\n"));
    // And without a pin, CI stops and says where to add it.
    std::fs::write(
        repo.join(".pre-commit-config.yaml"),
        "repos:\n  - repo: https://github.com/acme/other\n    rev: v1.0.0\n    hooks: [{id: x}]\n",
    )
    .unwrap();
    let (code, written, said) = run_pin_step(&repo);
    assert_eq!((code, written.as_str()), (1, ""));
    assert!(
        said.contains("::error file=.pre-commit-config.yaml::no stamp commit pinned"),
        "{said}"
    );
}

#[test]
fn init_never_overwrites_a_users_pre_commit_config_or_writes_through_a_link() {
    let test = Test::empty();
    let mine = "repos: []  # mine\n";
    test.write(".pre-commit-config.yaml", mine);
    let repo = test.path().to_str().unwrap();
    let out = test.expect(&["init", repo], 2);
    assert_eq!(
        out.messages().replace(repo, "<repo>"),
        "error: `<repo>` already holds `.pre-commit-config.yaml`; init never overwrites a file\nhint: run it in an empty folder\n"
    );
    assert_eq!(test.read(".pre-commit-config.yaml"), mine);
    assert!(!test.exists("stamp.yaml"), "init wrote part of the scaffold");

    let test = Test::empty();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), test.path().join(".github")).unwrap();
    let repo = test.path().to_str().unwrap();
    let out = test.expect(&["init", repo], 2);
    assert_eq!(
        out.messages().replace(repo, "<repo>"),
        "error: `.github` in `<repo>` is a symbolic link; init never writes through one\nhint: run it in an empty folder\n"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(!test.exists("stamp.yaml"));
}

fn new_billing(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec![
        "new",
        "billing",
        "--profile",
        "public-api",
        "--size",
        "small",
        "--team",
        "team-a",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn new_schedule_on_a_profile_without_one_names_the_argument_and_the_profile() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let before = test.tree();
    let out = test.expect(&new_billing(&["--schedule", "@daily"]), 2);
    insta::assert_snapshot!("new_schedule_refused", out.stderr);
    assert!(out.stderr.starts_with("error: --schedule `@daily`: "), "{}", out.stderr);
    assert!(
        out.stderr.contains("profile `public-api` (catalog/profiles.yaml:2:3)"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("catalog/services/billing.yaml"), "{}", out.stderr);
    assert!(!test.exists("catalog/services/billing.yaml"));
    assert_eq!(test.tree(), before);
}

#[test]
fn new_errors_in_the_file_it_would_write_name_the_argument() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let before = test.tree();
    let args = [
        "new",
        "cleanup",
        "--profile",
        "batch",
        "--size",
        "small",
        "--team",
        "team-b",
        "--schedule",
        "every day",
    ];
    let out = test.expect(&args, 2);
    let mut lines = out.stderr.lines();
    let first = lines.next().unwrap();
    assert!(first.starts_with("error: --schedule `every day`: "), "{}", out.stderr);
    assert!(
        out.stderr
            .ends_with("`catalog/services/cleanup.yaml` was not written\n"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("cleanup.yaml:"),
        "points into a file never written: {}",
        out.stderr
    );
    assert!(!test.exists("catalog/services/cleanup.yaml"));
    assert_eq!(test.tree(), before);
}

#[test]
fn readme_pre_commit_rev_is_a_commit_of_this_repository() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let revs: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rev: "))
        .map(|r| r.split_whitespace().next().unwrap_or(""))
        .collect();
    assert!(!revs.is_empty(), "the README shows a pre-commit snippet");
    for rev in &revs {
        assert!(
            rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()),
            "`rev: {rev}` is not a full commit hash"
        );
    }
    // Only a full clone is sure to hold the commit.
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let Some(shallow) = git(&["rev-parse", "--is-shallow-repository"]) else {
        return;
    };
    if shallow.stdout.starts_with(b"true") {
        return;
    }
    for rev in revs {
        assert!(
            git(&["cat-file", "-e", &format!("{rev}^{{commit}}")]).is_some(),
            "README's `rev: {rev}` is no commit of this repository"
        );
    }
}
