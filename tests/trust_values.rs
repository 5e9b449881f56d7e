//! Values Kubernetes would reject, or that cannot be meant, are catalog
//! errors at the line that set them; the broken service keeps its last good
//! output and every other service still builds.

use crate::errors::failed_build;
use crate::test::Test;

/// Builds `basic`, breaks it with the `errors/<case>` overlay and builds
/// again: exit 2, the error at `location`, and the committed tree
/// byte-identical to the good build. With `rebuilt`, a service the break does
/// not touch, that service's output is deleted first and must be written
/// again: one service's error never blocks another's output.
fn rejected(case: &str, location: &str, rebuilt: Option<&str>) {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let good = test.tree();
    let test = test.overlay(&format!("errors/{case}"));
    if let Some(rebuilt) = rebuilt {
        std::fs::remove_dir_all(test.path().join("generated").join(rebuilt)).unwrap();
    }
    let diagnostics = failed_build(&test, location);
    if let Some(rebuilt) = rebuilt {
        assert!(
            test.exists(&format!("generated/{rebuilt}")),
            "{rebuilt} was not rebuilt"
        );
    }
    assert!(test.tree() == good, "the committed tree changed:\n{diagnostics}");
    insta::assert_snapshot!(case, diagnostics);
}

#[test]
fn uppercase_image_repository() {
    rejected("image-uppercase", "catalog/services/web.yaml:6:15:", Some("jobs"));
}

#[test]
fn image_repository_with_a_space() {
    rejected("image-spaces", "catalog/services/jobs.yaml:6:15:", Some("web"));
}

#[test]
fn empty_image_tag_in_an_override() {
    rejected("image-tag-empty", "catalog/services/jobs.yaml:11:19:", Some("report"));
}

#[test]
fn cronjob_name_over_52_characters() {
    // A new service: it has no output yet and gets none; the others build.
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let good = test.tree();
    let test = test.overlay("errors/cronjob-name-too-long");
    std::fs::remove_dir_all(test.path().join("generated/web")).unwrap();
    let out = test.expect(&["build"], 2);
    let file = "catalog/services/nightly-report-aggregation-for-the-finance-department-x.yaml";
    assert!(
        out.stderr.contains(&format!("error: {file}:1:7: CronJob name")),
        "{}",
        out.stderr
    );
    assert!(!test.exists("generated/nightly-report-aggregation-for-the-finance-department-x"));
    // Its file gets its team as reviewers, as any service file does.
    let generated = |tree: &str| tree.split("=== .github/").next().unwrap_or_default().to_string();
    assert!(generated(&test.tree()) == generated(&good), "generated/ changed");
    let diagnostics: String = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("built "))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("cronjob-name-too-long", diagnostics);
}

#[test]
fn pdb_max_unavailable_zero_in_a_service() {
    rejected(
        "pdb-max-unavailable-zero",
        "catalog/services/jobs.yaml:13:20:",
        Some("web"),
    );
}

#[test]
fn pdb_max_unavailable_zero_in_profile_defaults() {
    // A shared file: nothing is rebuilt (fail closed), nothing removed.
    rejected("pdb-max-unavailable-profile", "catalog/profiles.yaml:9:44:", None);
}

#[test]
fn memory_in_milli() {
    rejected("memory-milli", "catalog/sizes.yaml:4:36:", None);
}

#[test]
fn autoscaling_min_zero() {
    rejected("autoscaling-min-zero", "catalog/sizes.yaml:11:25:", None);
}
