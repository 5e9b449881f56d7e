//! The drift gate cannot be fooled, broken shared inputs fail closed, and
//! nothing is ever written through a symlink.

use std::path::Path;

use crate::test::Test;

const FORGED: &str = "generated/web/prod/eu";

/// Appends a ClusterRoleBinding to a committed manifest and recomputes the
/// hash in the fingerprint beside it, as an attacker with write access would.
fn forge(test: &Test, dir: &str) {
    let manifests = format!("{dir}/manifests.yaml");
    let forged = test.read(&manifests)
        + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: pwn\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n  name: web\n  namespace: web\n";
    test.write(&manifests, &forged);
    let fingerprint = format!("{dir}/.stamp-fingerprint");
    let old = test.read(&fingerprint);
    let line = old
        .lines()
        .find(|l| l.starts_with("manifests.yaml "))
        .unwrap()
        .to_string();
    let hash = blake3::hash(forged.as_bytes()).to_hex().to_string();
    test.write(&fingerprint, &old.replace(&line, &format!("manifests.yaml {hash}")));
}

/// A built repo as a fresh clone has it: committed files, no local cache.
fn fresh_clone() -> Test {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    std::fs::remove_file(test.path().join("generated/.stamp-cache")).unwrap();
    test
}

fn check_json(test: &Test, code: i32) -> serde_json::Value {
    let out = test.expect(&["check", "--format", "json"], code);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn forged_manifest_and_fingerprint_are_drift_in_a_fresh_clone() {
    let test = fresh_clone();
    forge(&test, FORGED);
    let out = test.expect(&["check"], 1);
    assert!(
        out.stdout.contains(&format!("+++ b/{FORGED}/manifests.yaml")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("-kind: ClusterRoleBinding"), "{}", out.stdout);
    let checked = check_json(&test, 1);
    assert!(
        checked["drift"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(format!("{FORGED}/manifests.yaml"))),
        "{checked}"
    );
}

#[test]
fn a_build_that_trusted_the_forged_fingerprint_is_no_proof_for_check() {
    let test = fresh_clone();
    forge(&test, FORGED);
    // The fingerprint is a hint for build: it skips the target...
    let out = test.expect(&["build"], 0);
    assert!(out.stderr.contains("(0 rendered"), "{}", out.stderr);
    // ...and check, on the same machine, still renders and compares it.
    let checked = check_json(&test, 1);
    assert_eq!(checked["status"], "drift");
    assert!(
        checked["drift"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(format!("{FORGED}/manifests.yaml"))),
        "{checked}"
    );
    // A second build still trusts the hint; `--no-cache` restores the output.
    test.expect(&["build", "--no-cache"], 0);
    test.expect(&["check"], 0);
    assert!(
        !test
            .read(&format!("{FORGED}/manifests.yaml"))
            .contains("ClusterRoleBinding")
    );
}

#[test]
fn a_second_check_is_served_from_what_the_first_compared() {
    let test = fresh_clone();
    let first = check_json(&test, 0);
    assert_eq!(
        (first["targets"].as_u64(), first["rendered"].as_u64()),
        (Some(7), Some(7))
    );
    let second = check_json(&test, 0);
    assert_eq!(
        (second["targets"].as_u64(), second["rendered"].as_u64()),
        (Some(7), Some(0))
    );
    // check wrote no committed file, only its local cache.
    assert!(test.exists("generated/.stamp-cache"));
    // What changed since is rendered again, and forged output is still caught.
    forge(&test, FORGED);
    let third = check_json(&test, 1);
    assert_eq!(third["rendered"].as_u64(), Some(1), "{third}");
}

#[test]
fn an_old_stat_cache_is_never_read_as_proof() {
    let test = fresh_clone();
    test.expect(&["check"], 0);
    let cache = test.read("generated/.stamp-cache");
    // The same entries in the format before trust levels existed.
    let old: String = cache
        .replace("stamp-stat-cache v2", "stamp-stat-cache v1")
        .replace(" rendered ", " ");
    test.write("generated/.stamp-cache", &old);
    let checked = check_json(&test, 0);
    assert_eq!(checked["rendered"].as_u64(), Some(7), "{checked}");
}

/// Builds, breaks the repo with `edit`, and asserts that build, check, diff
/// and affected fail closed: exit 2 naming `location`, and the committed
/// output byte for byte as it was.
fn fails_closed(edit: impl Fn(&Test), location: &str) {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.commit("good");
    let before = test.tree();
    edit(&test);
    let out = test.expect(&["build"], 2);
    assert!(
        out.stderr.contains(&format!("error: {location}")),
        "expected an error at {location}:\n{}",
        out.stderr
    );
    assert_eq!(
        out.stderr
            .matches("error: shared inputs have errors; nothing was written or removed")
            .count(),
        1,
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("built "), "{}", out.stderr);
    assert_eq!(test.tree(), before, "nothing written or removed");
    let out = test.expect(&["check"], 2);
    assert_eq!(out.stdout, "", "no drift report");
    assert!(out.stderr.contains(&format!("error: {location}")), "{}", out.stderr);
    let out = test.expect(&["diff", "--stat"], 2);
    assert_eq!(out.stdout, "", "no removals reported");
    let out = test.expect(&["affected", "--base", "HEAD"], 2);
    assert!(!out.stdout.contains("removed"), "{}", out.stdout);
    assert_eq!(test.tree(), before, "nothing written or removed");
}

#[test]
fn bad_number_in_sizes() {
    fails_closed(
        |t| t.edit("catalog/sizes.yaml", "max: 4,", "max: 4x,"),
        "catalog/sizes.yaml:6:33:",
    );
}

#[test]
fn unknown_key_in_sizes() {
    fails_closed(
        |t| t.edit("catalog/sizes.yaml", "replicas: 4", "replicaz: 4"),
        "catalog/sizes.yaml:8:5:",
    );
}

#[test]
fn misspelt_approval_in_environments() {
    fails_closed(
        |t| t.edit("catalog/environments.yaml", "approval: manual", "approval: manuel"),
        "catalog/environments.yaml:7:15:",
    );
}

#[test]
fn misspelt_cluster_key_in_environments() {
    fails_closed(
        |t| t.edit("catalog/environments.yaml", "us: { cluster:", "us: { clustr:"),
        "catalog/environments.yaml:10:13:",
    );
}

#[test]
fn broken_teams() {
    fails_closed(
        |t| t.edit("catalog/teams.yaml", "team-a: {", "team-a: ["),
        "catalog/teams.yaml:3:3:",
    );
}

#[test]
fn broken_stamp_yaml() {
    fails_closed(|t| t.edit("stamp.yaml", "repo_url:", "repo_ur1:"), "stamp.yaml:1:1:");
}

#[test]
fn profile_referencing_a_missing_component() {
    fails_closed(
        |t| t.edit("catalog/profiles.yaml", "components: [pdb]", "components: [pdb, hpx]"),
        "catalog/profiles.yaml:8:23:",
    );
}

#[test]
fn component_whose_kdl_does_not_parse() {
    fails_closed(
        |t| t.edit("components/pdb/component.kdl", "name \"pdb\"", "name \"pdb\" {"),
        "components/pdb/component.kdl:1:12:",
    );
}

#[test]
fn component_whose_name_is_renamed() {
    fails_closed(
        |t| t.edit("components/pdb/component.kdl", "name \"pdb\"", "name \"pdx\""),
        "components/pdb/component.kdl:1:1:",
    );
}

#[test]
fn component_whose_template_is_missing() {
    fails_closed(
        |t| {
            t.remove("components/pdb/pdb.yaml.j2");
        },
        "components/pdb/component.kdl:5:1:",
    );
}

#[test]
fn a_broken_service_file_fails_that_service_only() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let web_before = test.read("generated/web/dev/eu/manifests.yaml");
    test.edit("catalog/services/web.yaml", "profile: public-api", "profile: publc-api");
    test.edit("catalog/services/jobs.yaml", "\"2.1.0\"", "\"2.2.0\"");
    let out = test.expect(&["build"], 2);
    assert!(!out.stderr.contains("shared inputs"), "{}", out.stderr);
    assert!(test.read("generated/jobs/dev/eu/manifests.yaml").contains("jobs:2.2.0"));
    assert_eq!(test.read("generated/web/dev/eu/manifests.yaml"), web_before);
    // diff shows the other services' changes, and still fails.
    test.edit("catalog/services/jobs.yaml", "\"2.2.0\"", "\"2.3.0\"");
    let out = test.expect(&["diff", "--stat"], 2);
    assert!(out.stdout.starts_with("jobs/"), "{}", out.stdout);
    assert!(!out.stdout.contains("removed\n"), "{}", out.stdout);
}

/// Every file under `dir` with its content, following nothing.
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            for (name, content) in listing(&entry.path()) {
                files.push((format!("{}/{name}", entry.file_name().to_string_lossy()), content));
            }
        } else {
            files.push((
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            ));
        }
    }
    files.sort();
    files
}

/// A folder outside the repo with one file in it.
fn outside() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside the repo\n").unwrap();
    dir
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[test]
fn a_symlinked_service_folder_fails_that_service_only() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let out_dir = outside();
    let before = listing(out_dir.path());
    std::fs::remove_dir_all(test.path().join("generated/web")).unwrap();
    symlink(out_dir.path(), &test.path().join("generated/web"));
    test.edit("catalog/services/jobs.yaml", "\"2.1.0\"", "\"2.2.0\"");
    let out = test.expect(&["build"], 2);
    assert!(
        out.stderr
            .contains("error: generated/web:1:1: `generated/web` is a symbolic link; stamp never writes through one"),
        "{}",
        out.stderr
    );
    assert_eq!(listing(out_dir.path()), before, "nothing written outside the repo");
    assert!(test.read("generated/jobs/dev/eu/manifests.yaml").contains("jobs:2.2.0"));
    assert!(
        std::fs::symlink_metadata(test.path().join("generated/web"))
            .unwrap()
            .is_symlink()
    );
    test.expect(&["check"], 2);
    assert_eq!(listing(out_dir.path()), before);
}

#[test]
fn a_symlinked_target_folder_or_file_is_never_written_through() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let out_dir = outside();
    let before = listing(out_dir.path());
    // A target folder deep down, and a single manifest of another target.
    std::fs::remove_dir_all(test.path().join("generated/web/prod/eu")).unwrap();
    symlink(out_dir.path(), &test.path().join("generated/web/prod/eu"));
    let manifest = "generated/report/prod/us/manifests.yaml";
    test.remove(manifest);
    symlink(&out_dir.path().join("secret.txt"), &test.path().join(manifest));
    let out = test.expect(&["build"], 2);
    for path in ["generated/web/prod/eu", manifest] {
        assert!(
            out.stderr
                .contains(&format!("error: {path}:1:1: `{path}` is a symbolic link")),
            "{}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains("outside the repo"), "content is never echoed");
    assert_eq!(listing(out_dir.path()), before, "nothing written outside the repo");
    assert!(test.exists("generated/jobs/prod/us/manifests.yaml"));
}

#[test]
fn symlinked_application_sets_and_codeowners_are_refused() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.edit("stamp.yaml", "@example/platform", "@example/platform2");
    test.edit("stamp.yaml", "example/platform\n", "example/platform2\n");
    let out_dir = outside();
    let before = listing(out_dir.path());
    std::fs::remove_dir_all(test.path().join("generated/argocd")).unwrap();
    symlink(out_dir.path(), &test.path().join("generated/argocd"));
    std::fs::remove_dir_all(test.path().join(".github")).unwrap();
    symlink(out_dir.path(), &test.path().join(".github"));
    let out = test.expect(&["build"], 2);
    for path in ["generated/argocd", ".github"] {
        assert!(
            out.stderr
                .contains(&format!("error: {path}:1:1: `{path}` is a symbolic link")),
            "{}",
            out.stderr
        );
    }
    assert_eq!(listing(out_dir.path()), before, "nothing written outside the repo");

    // The file itself a symlink.
    std::fs::remove_file(test.path().join(".github")).unwrap();
    std::fs::create_dir(test.path().join(".github")).unwrap();
    symlink(
        &out_dir.path().join("secret.txt"),
        &test.path().join(".github/CODEOWNERS"),
    );
    let out = test.expect(&["build"], 2);
    assert!(
        out.stderr
            .contains("error: .github/CODEOWNERS:1:1: `.github/CODEOWNERS` is a symbolic link"),
        "{}",
        out.stderr
    );
    assert_eq!(listing(out_dir.path()), before, "nothing written outside the repo");
}

#[test]
fn a_symlinked_generated_folder_is_refused_whole() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let out_dir = outside();
    copy_dir(&test.path().join("generated"), out_dir.path());
    test.edit("catalog/services/jobs.yaml", "\"2.1.0\"", "\"2.2.0\"");
    test.remove("catalog/services/report.yaml");
    let before = listing(out_dir.path());
    std::fs::remove_dir_all(test.path().join("generated")).unwrap();
    symlink(out_dir.path(), &test.path().join("generated"));
    let out = test.expect(&["build"], 2);
    assert!(out.stderr.contains("`generated` is a symbolic link"), "{}", out.stderr);
    assert_eq!(
        listing(out_dir.path()),
        before,
        "nothing written or removed outside the repo"
    );
    let out = test.expect(&["check"], 2);
    assert!(out.stderr.contains("`generated` is a symbolic link"), "{}", out.stderr);
    assert_eq!(listing(out_dir.path()), before, "check saves no cache through it");
}

#[test]
fn stale_output_removal_never_follows_a_symlink() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let out_dir = outside();
    // Looks like a removed service's output, but lives outside the repo.
    copy_dir(&test.path().join("generated/report"), out_dir.path());
    symlink(out_dir.path(), &test.path().join("generated/gone"));
    std::fs::create_dir_all(test.path().join("generated/old/prod")).unwrap();
    symlink(out_dir.path(), &test.path().join("generated/old/prod/eu"));
    let before = listing(out_dir.path());
    test.expect(&["build"], 0);
    assert_eq!(listing(out_dir.path()), before, "nothing removed outside the repo");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
