//! `stamp diff`: pending changes and changes since a git revision.

use crate::test::Test;

#[test]
fn diff_shows_what_a_build_would_change_and_writes_nothing() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.write(
        "catalog/services/web.yaml",
        &test.read("catalog/services/web.yaml").replace("\"1.0.0\"", "\"1.1.0\""),
    );
    test.remove("catalog/services/report.yaml");
    let before = test.tree();

    let stat = test.expect(&["diff", "--stat"], 0);
    insta::assert_snapshot!("diff_stat", stat.stdout);
    let json = test.expect(&["diff", "--format", "json"], 0);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let targets = parsed["targets"].as_array().unwrap();
    let web = targets.iter().find(|t| t["target"] == "web/dev/eu").unwrap();
    assert_eq!(web["status"], "changed");
    assert_eq!(web["objects"]["changed"], serde_json::json!(["Deployment/web"]));
    let report = targets.iter().find(|t| t["target"] == "report/prod/us").unwrap();
    assert_eq!(report["status"], "removed");
    let full = test.expect(&["diff"], 0);
    // The manifest's hunk exactly; fingerprint hunks carry input hashes.
    let web = "--- a/generated/web/dev/eu/manifests.yaml\n";
    let (_, from_web) = full.stdout.split_once(web).expect("a diff of web's manifests");
    let web_diff = from_web.split("\n--- ").next().unwrap();
    insta::assert_snapshot!("diff_web_manifests", format!("{web}{web_diff}\n"));
    assert_eq!(test.tree(), before, "diff never writes");
}

#[test]
fn diff_against_a_git_revision_reads_git_not_the_working_tree() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.commit("base");
    test.write(
        "catalog/services/jobs.yaml",
        &test
            .read("catalog/services/jobs.yaml")
            .replace("replicas: 3", "replicas: 5"),
    );
    let status_before = test.git(&["status", "--porcelain"]);
    let out = test.expect(&["diff", "--base", "HEAD", "--stat"], 0);
    insta::assert_snapshot!("diff_base_stat", out.stdout);
    assert_eq!(
        test.git(&["status", "--porcelain"]),
        status_before,
        "the working tree and index are untouched"
    );
    let out = test.expect(&["diff", "--base", "no-such-rev"], 2);
    insta::assert_snapshot!("diff_base_unknown_revision", out.messages());
}
