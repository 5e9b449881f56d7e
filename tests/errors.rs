//! One broken fixture per error class: exit 2, and the message names the
//! file, line and column that caused it.

use crate::test::Test;

/// Builds `basic` with the `errors/<case>` overlay and snapshots stderr.
fn broken(case: &str, location: &str) {
    let test = Test::fixture("basic").overlay(&format!("errors/{case}"));
    insta::assert_snapshot!(case, failed_build(&test, location));
}

/// Runs `build`, which must exit 2 with an error at `location`, and returns
/// stderr without the summary line (it carries a timing) to snapshot.
pub(crate) fn failed_build(test: &Test, location: &str) -> String {
    let out = test.expect(&["build"], 2);
    assert!(
        out.stderr.contains(&format!("error: {location}")),
        "expected an error at {location}, got:\n{}",
        out.stderr
    );
    out.stderr
        .lines()
        .filter(|l| !l.starts_with("built "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn misspelled_key() {
    broken("misspelled-key", "catalog/services/web.yaml:2:1:");
}

#[test]
fn unknown_profile() {
    broken("unknown-profile", "catalog/services/web.yaml:2:10:");
}

#[test]
fn unknown_size() {
    broken("unknown-size", "catalog/services/web.yaml:3:7:");
}

#[test]
fn unknown_environment() {
    broken("unknown-environment", "catalog/services/web.yaml:4:21:");
}

#[test]
fn unknown_team() {
    broken("unknown-team", "catalog/services/web.yaml:9:9:");
}

#[test]
fn unknown_component() {
    broken("unknown-component", "catalog/services/web.yaml:4:14:");
}

#[test]
fn component_not_applicable_to_archetype() {
    broken("component-not-applicable", "catalog/services/jobs.yaml:5:14:");
}

#[test]
fn override_for_unlisted_environment() {
    broken("unknown-override-env", "catalog/services/jobs.yaml:9:3:");
}

#[test]
fn name_differs_from_file() {
    broken("name-mismatch", "catalog/services/web.yaml:1:7:");
}

#[test]
fn invalid_dns_name() {
    broken("invalid-name", "catalog/services/Web_App.yaml:1:7:");
}

#[test]
fn namespace_over_63_characters() {
    broken(
        "namespace-too-long",
        "catalog/services/a-very-long-service-name-that-makes-the-namespace-too-long.yaml:1:7:",
    );
}

#[test]
fn bad_quantity() {
    broken("bad-quantity", "catalog/sizes.yaml:4:22:");
}

#[test]
fn requests_above_limits() {
    broken("requests-above-limits", "catalog/sizes.yaml:4:36:");
}

#[test]
fn broken_yaml() {
    broken("broken-yaml", "catalog/services/web.yaml:5:");
}

#[test]
fn schedule_missing_for_cronjob() {
    broken("schedule-missing", "catalog/services/report.yaml:1:7:");
}

#[test]
fn schedule_refused_outside_cronjob() {
    broken("schedule-refused", "catalog/services/web.yaml:4:11:");
}

#[test]
fn missing_required_key() {
    broken("missing-owners", "catalog/services/web.yaml:1:1:");
}

#[test]
fn template_undefined_value() {
    broken("template-undefined", "archetypes/worker/deployment.yaml.j2:24:");
}

#[test]
fn rendered_object_with_unknown_field() {
    broken("unknown-field", "archetypes/worker/deployment.yaml.j2:31:7:");
}

#[test]
fn rendered_object_with_wrong_type() {
    broken("wrong-type", "archetypes/worker/deployment.yaml.j2:26:7:");
}

#[test]
fn broken_kdl_declaration() {
    broken("bad-kdl", "components/pdb/component.kdl:4:");
}

#[test]
fn every_error_of_a_run_is_reported() {
    let test = Test::fixture("basic")
        .overlay("errors/unknown-profile")
        .overlay("errors/bad-quantity");
    test.write(
        "catalog/services/jobs.yaml",
        &test.read("catalog/services/jobs.yaml").replace("team-b", "team-z"),
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("every_error_of_a_run_messages", out.messages());
}

#[test]
fn not_a_repo_is_a_clear_error() {
    let test = Test::empty();
    let out = test.expect(&["build"], 2);
    let repo = test.path().to_str().unwrap();
    assert_eq!(
        out.messages().replace(repo, "<repo>"),
        "error: `<repo>` is not a platform repo: it has no `catalog/` folder\nhint: `stamp init` scaffolds one\n"
    );
    assert!(!test.exists("generated"), "nothing is written outside a platform repo");
}

#[test]
fn service_file_with_another_extension() {
    broken("yml-extension", "catalog/services/reports.yml:1:1:");
}
