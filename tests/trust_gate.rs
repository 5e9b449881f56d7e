//! The drift gate cannot be fooled, broken shared inputs fail closed, and
//! nothing is ever written through a symlink.

use std::path::Path;

use crate::test::{Test, copy_tree};

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
    // The build may have taken a no-op snapshot too; a clone has none.
    let _ = std::fs::remove_file(test.path().join("generated/.stamp-snapshot"));
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
    // The forged object shows as a removal from the committed file.
    insta::assert_snapshot!("forged_manifest_drift", out.stdout);
    let checked = check_json(&test, 1);
    assert_eq!(
        checked["drift"],
        serde_json::json!([
            format!("{FORGED}/.stamp-fingerprint"),
            format!("{FORGED}/manifests.yaml")
        ]),
        "{checked}"
    );
}

#[test]
fn a_build_that_trusted_the_forged_fingerprint_is_no_proof_for_check() {
    let test = fresh_clone();
    forge(&test, FORGED);
    // The fingerprint is a hint for build: it skips the target...
    let out = test.expect(&["build"], 0);
    assert_eq!(
        out.summary(),
        "built 7 targets of 3 services (0 rendered, 0 objects): 0 files written, 0 removed, 25 unchanged"
    );
    // ...and check, on the same machine, still renders and compares it.
    let checked = check_json(&test, 1);
    assert_eq!(checked["status"], "drift");
    assert_eq!(
        checked["drift"],
        serde_json::json!([
            format!("{FORGED}/.stamp-fingerprint"),
            format!("{FORGED}/manifests.yaml")
        ]),
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
    let mut cache = std::fs::read(test.path().join("generated/.stamp-cache")).unwrap();
    // The same entries under an older format version: never read.
    let magic = b"stamp-stat-cache\x00\x04";
    assert!(cache.starts_with(magic));
    cache[magic.len() - 1] = 2;
    std::fs::write(test.path().join("generated/.stamp-cache"), cache).unwrap();
    // The no-op snapshot would answer first: this is about the stat cache.
    std::fs::remove_file(test.path().join("generated/.stamp-snapshot")).unwrap();
    let checked = check_json(&test, 0);
    assert_eq!(checked["rendered"].as_u64(), Some(7), "{checked}");
}

/// How a case breaks a shared input.
enum Break {
    /// Replace the first text with the second in a file.
    Edit(&'static str, &'static str, &'static str),
    Remove(&'static str),
}

/// Each broken shared input, by name: build, check, diff and affected must
/// all fail closed on it (see `fails_closed`).
const BROKEN_SHARED_INPUTS: &[(&str, Break)] = &[
    (
        "bad_number_in_sizes",
        Break::Edit("catalog/sizes.yaml", "max: 4,", "max: 4x,"),
    ),
    (
        "unknown_key_in_sizes",
        Break::Edit("catalog/sizes.yaml", "replicas: 4", "replicaz: 4"),
    ),
    (
        "misspelt_approval_in_environments",
        Break::Edit("catalog/environments.yaml", "approval: manual", "approval: manuel"),
    ),
    (
        "misspelt_cluster_key_in_environments",
        Break::Edit("catalog/environments.yaml", "us: { cluster:", "us: { clustr:"),
    ),
    (
        "broken_teams",
        Break::Edit("catalog/teams.yaml", "team-a: {", "team-a: ["),
    ),
    ("broken_stamp_yaml", Break::Edit("stamp.yaml", "repo_url:", "repo_ur1:")),
    (
        "profile_referencing_a_missing_component",
        Break::Edit("catalog/profiles.yaml", "components: [pdb]", "components: [pdb, hpx]"),
    ),
    (
        "component_whose_kdl_does_not_parse",
        Break::Edit("components/pdb/component.kdl", "name \"pdb\"", "name \"pdb\" {"),
    ),
    (
        "component_whose_name_is_renamed",
        Break::Edit("components/pdb/component.kdl", "name \"pdb\"", "name \"pdx\""),
    ),
    (
        "component_whose_template_is_missing",
        Break::Remove("components/pdb/pdb.yaml.j2"),
    ),
];

/// Builds, breaks the repo, and asserts that build, check, diff and
/// affected fail closed: exit 2, the exact stderr (snapshot
/// `fails_closed_<name>`), nothing on stdout, and the committed output byte
/// for byte as it was.
fn fails_closed(name: &str, broken: &Break) {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.commit("good");
    let before = test.tree();
    match broken {
        Break::Edit(file, from, to) => test.edit(file, from, to),
        Break::Remove(file) => {
            test.remove(file);
        }
    }
    let mut report = String::new();
    for args in [
        &["build"][..],
        &["check"],
        &["diff", "--stat"],
        &["affected", "--base", "HEAD"],
    ] {
        let out = test.expect(args, 2);
        assert_eq!(out.stdout, "", "{name}: `{}` printed no output", args.join(" "));
        report.push_str(&format!("$ stamp {}\n{}", args.join(" "), out.stderr));
        assert_eq!(
            test.tree(),
            before,
            "{name}: `{}` wrote or removed nothing",
            args.join(" ")
        );
    }
    insta::assert_snapshot!(format!("fails_closed_{name}"), report);
}

#[test]
fn broken_shared_inputs_fail_closed() {
    for (name, broken) in BROKEN_SHARED_INPUTS {
        fails_closed(name, broken);
    }
}

#[test]
fn a_broken_service_file_fails_that_service_only() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let web_before = test.read("generated/web/dev/eu/manifests.yaml");
    test.edit("catalog/services/web.yaml", "profile: public-api", "profile: publc-api");
    test.edit("catalog/services/jobs.yaml", "\"2.1.0\"", "\"2.2.0\"");
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("broken_service_file_build", out.messages());
    assert!(test.read("generated/jobs/dev/eu/manifests.yaml").contains("jobs:2.2.0"));
    assert_eq!(test.read("generated/web/dev/eu/manifests.yaml"), web_before);
    // diff shows the other services' changes, and still fails.
    test.edit("catalog/services/jobs.yaml", "\"2.2.0\"", "\"2.3.0\"");
    let out = test.expect(&["diff", "--stat"], 2);
    insta::assert_snapshot!("broken_service_file_diff_stat", out.stdout);
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
    insta::assert_snapshot!("symlinked_service_folder", out.messages());
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
    insta::assert_snapshot!("symlinked_target_folder_and_file", out.messages());
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
    insta::assert_snapshot!("symlinked_application_sets_and_codeowners", out.messages());
    assert_eq!(listing(out_dir.path()), before, "nothing written outside the repo");

    // The file itself a symlink.
    std::fs::remove_file(test.path().join(".github")).unwrap();
    std::fs::create_dir(test.path().join(".github")).unwrap();
    symlink(
        &out_dir.path().join("secret.txt"),
        &test.path().join(".github/CODEOWNERS"),
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("symlinked_codeowners_file", out.messages());
    assert_eq!(listing(out_dir.path()), before, "nothing written outside the repo");
}

#[test]
fn a_symlinked_generated_folder_is_refused_whole() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let out_dir = outside();
    copy_tree(&test.path().join("generated"), out_dir.path());
    test.edit("catalog/services/jobs.yaml", "\"2.1.0\"", "\"2.2.0\"");
    test.remove("catalog/services/report.yaml");
    let before = listing(out_dir.path());
    std::fs::remove_dir_all(test.path().join("generated")).unwrap();
    symlink(out_dir.path(), &test.path().join("generated"));
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("symlinked_generated_build", out.messages());
    assert_eq!(
        listing(out_dir.path()),
        before,
        "nothing written or removed outside the repo"
    );
    let out = test.expect(&["check"], 2);
    insta::assert_snapshot!("symlinked_generated_check", out.messages());
    assert_eq!(listing(out_dir.path()), before, "check saves no cache through it");
}

#[test]
fn stale_output_removal_never_follows_a_symlink() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let out_dir = outside();
    // Looks like a removed service's output, but lives outside the repo.
    copy_tree(&test.path().join("generated/report"), out_dir.path());
    symlink(out_dir.path(), &test.path().join("generated/gone"));
    std::fs::create_dir_all(test.path().join("generated/old/prod")).unwrap();
    symlink(out_dir.path(), &test.path().join("generated/old/prod/eu"));
    let before = listing(out_dir.path());
    test.expect(&["build"], 0);
    assert_eq!(listing(out_dir.path()), before, "nothing removed outside the repo");
}
