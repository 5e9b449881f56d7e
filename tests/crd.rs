//! Custom resources are checked as strictly as core kinds: what stamp
//! writes for Argo CD validates against Argo CD's CRDs, and a platform
//! component whose custom resource breaks its CRD fails at the template.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::test::{Test, stamp};

/// Every document of a YAML stream, as JSON values.
fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|value| !value.is_null())
        .collect()
}

/// The problems of every object in `generated/argocd/`, as `file: kind
/// name at path: message`, and the kinds seen.
fn check_argocd(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut kinds = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("generated/argocd"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        for object in documents(&std::fs::read_to_string(&file).unwrap()) {
            kinds.push(object["kind"].as_str().unwrap_or_default().to_string());
            for error in stamp_kube::validate(&object) {
                problems.push(format!(
                    "{}: {} {} at {}: {}",
                    file.display(),
                    object["kind"],
                    object["metadata"]["name"],
                    error.path,
                    error.message
                ));
            }
        }
    }
    kinds.sort();
    kinds.dedup();
    (problems, kinds)
}

#[test]
fn emitted_application_sets_validate_against_the_argo_cd_crd() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let (problems, kinds) = check_argocd(test.path());
    assert_eq!(problems, Vec::<String>::new());
    assert!(kinds.contains(&"ApplicationSet".to_string()), "{kinds:?}");
}

/// The repo's own committed output, whatever kinds it holds by now
/// (ApplicationSets, the preview AppProject), and `stamp validate` on it.
#[test]
fn the_repos_own_output_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (problems, kinds) = check_argocd(root);
    assert_eq!(problems, Vec::<String>::new());
    assert!(kinds.contains(&"ApplicationSet".to_string()), "{kinds:?}");
    let out = stamp().arg("-C").arg(root).arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A service file must be able to use the fixture's `rules` component.
fn with_rules(overlay: &str) -> Test {
    let test = Test::fixture("basic").overlay(overlay);
    test.edit(
        "catalog/services/web.yaml",
        "owners:\n",
        "components: [rules]\nowners:\n",
    );
    test
}

#[test]
fn a_platform_components_custom_resource_is_built_when_valid() {
    let test = with_rules("crd/rules");
    test.expect(&["build"], 0);
    let manifests = test.read("generated/web/prod/eu/manifests.yaml");
    let rule = documents(&manifests)
        .into_iter()
        .find(|o| o["kind"] == "PrometheusRule")
        .expect("a PrometheusRule");
    assert_eq!(rule["spec"]["groups"][0]["rules"][0]["for"], "5m");
    test.expect(&["validate"], 0);
}

/// Unknown field, wrong type and missing required field in a custom
/// resource: exit 2, each at its template line, the other services built.
#[test]
fn a_custom_resource_that_breaks_its_crd_fails_at_the_template() {
    let test = with_rules("crd/bad-rule");
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("bad_rule", out.messages());
    assert!(test.exists("generated/jobs/prod/us/manifests.yaml"));
    assert!(test.exists("generated/report/prod/eu/manifests.yaml"));
    assert!(!test.exists("generated/web/prod/eu/manifests.yaml"));
}

/// A broken custom resource in committed output is named by `validate`
/// at its file and line.
#[test]
fn validate_names_a_broken_custom_resource() {
    let test = with_rules("crd/rules");
    test.expect(&["build"], 0);
    test.edit("generated/web/dev/eu/manifests.yaml", "expr: ", "expresion: ");
    let out = test.expect(&["validate"], 2);
    insta::assert_snapshot!("validate_bad_rule", out.messages());
}
