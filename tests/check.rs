use crate::test::Test;

/// The `--- a/…` and `+++ b/…` lines of a unified diff: which files differ.
fn diff_headers(diff: &str) -> String {
    diff.lines()
        .filter(|l| l.starts_with("--- ") || l.starts_with("+++ "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn check_passes_on_fresh_output_and_writes_nothing() {
    let test = Test::fixture("basic");
    let out = test.expect(&["check"], 1);
    assert!(!test.exists("generated"), "check must not write");
    insta::assert_snapshot!("check_unbuilt_files", diff_headers(&out.stdout));
    test.expect(&["build"], 0);
    test.expect(&["check"], 0);
}

#[test]
fn hand_edit_is_drift_and_build_restores_it() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let path = "generated/web/prod/eu/manifests.yaml";
    let good = test.read(path);
    test.write(path, &good.replace("maxReplicas: 10", "maxReplicas: 99"));
    let out = test.expect(&["check"], 1);
    insta::assert_snapshot!("hand_edit_drift", out.stdout);
    test.expect(&["build"], 0);
    assert_eq!(test.read(path), good);
    test.expect(&["check"], 0);
}

#[test]
fn stale_output_is_drift() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.remove("catalog/services/report.yaml");
    let out = test.expect(&["check"], 1);
    insta::assert_snapshot!("check_stale_files", diff_headers(&out.stdout));
    assert!(test.exists("generated/report/prod/eu/manifests.yaml"));
}

#[test]
fn check_with_errors_exits_2() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.overlay("errors/unknown-profile").expect(&["check"], 2);
}

#[test]
fn validate_accepts_built_output_and_names_the_broken_line() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.expect(&["validate"], 0);
    let path = "generated/jobs/dev/eu/manifests.yaml";
    test.write(path, &test.read(path).replace("      containers:", "      containres:"));
    let out = test.expect(&["validate"], 2);
    insta::assert_snapshot!("validate_unknown_field", out.stderr);
}

#[test]
fn validate_takes_target_paths() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let path = "generated/jobs/dev/eu/manifests.yaml";
    test.write(path, &test.read(path).replace("      containers:", "      containres:"));
    let out = test.expect(&["validate", "generated/web/prod/"], 0);
    assert_eq!(out.stderr, "validated 18 objects in 2 files\n");
    test.expect(&["validate", "generated/jobs/dev/eu"], 2);
    let out = test.expect(&["validate", "generated/nope"], 2);
    insta::assert_snapshot!("validate_no_manifests", out.messages());
}

#[test]
fn json_results_for_tools() {
    let test = Test::fixture("basic");
    let out = test.expect(&["build", "--format", "json"], 0);
    let built: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(built["targets"], 7);
    assert_eq!(built["errors"], serde_json::json!([]));
    let path = "generated/web/prod/eu/manifests.yaml";
    test.write(path, &test.read(path).replace("maxReplicas: 10", "maxReplicas: 11"));
    let out = test.expect(&["check", "--format", "json"], 1);
    let checked: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(checked["status"], "drift");
    assert_eq!(checked["drift"], serde_json::json!([path]));
    let test = test.overlay("errors/unknown-profile");
    let out = test.expect(&["check", "--format", "json"], 2);
    let checked: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(checked["status"], "errors");
    let error = &checked["errors"][0];
    assert_eq!(
        (error["file"].as_str(), error["line"].as_u64(), error["column"].as_u64()),
        (Some("catalog/services/web.yaml"), Some(2), Some(10))
    );
    assert_eq!(error["hint"], "did you mean `public-api`?");
}
