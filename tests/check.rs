use crate::test::Test;

#[test]
fn check_passes_on_fresh_output_and_writes_nothing() {
    let test = Test::fixture("basic");
    let out = test.expect(&["check"], 1);
    assert!(!test.exists("generated"), "check must not write");
    assert!(
        out.stdout.contains("+++ b/generated/web/dev/eu/manifests.yaml"),
        "{}",
        out.stdout
    );
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
    assert!(
        out.stdout.contains("--- a/generated/report/prod/eu/manifests.yaml"),
        "{}",
        out.stdout
    );
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
    assert!(out.stderr.contains("validated 18 objects in 2 files"), "{}", out.stderr);
    test.expect(&["validate", "generated/jobs/dev/eu"], 2);
    let out = test.expect(&["validate", "generated/nope"], 2);
    assert!(
        out.stderr.contains("no `manifests.yaml` under generated/nope"),
        "{}",
        out.stderr
    );
}
