//! The ApplicationSets follow Argo CD's own rules and never change when a
//! service does.

use serde_json::Value;

use crate::test::Test;

const CRD: &str = include_str!("schemas/argocd-applicationset-crd.yaml");

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

/// Checks `value` against a CRD's structural schema, strictly: a field the
/// schema does not declare is an error (the API server would prune it).
fn check_schema(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    // CRDs leave the object's own metadata to the API server's ObjectMeta.
    if path == ".metadata" {
        return;
    }
    if schema["x-kubernetes-int-or-string"] == true {
        if !(value.is_i64() || value.is_string()) {
            errors.push(format!("{path}: expected int or string"));
        }
        return;
    }
    let ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !ok {
        errors.push(format!("{path}: expected {}, found {value}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    match value {
        Value::Object(map) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(required.as_str().unwrap()) {
                    errors.push(format!("{path}: missing required field {required}"));
                }
            }
            for (key, child) in map {
                let child_path = format!("{path}.{key}");
                if let Some(sub) = schema["properties"].get(key) {
                    check_schema(sub, child, &child_path, errors);
                } else if schema["additionalProperties"].is_object() {
                    check_schema(&schema["additionalProperties"], child, &child_path, errors);
                } else if schema["x-kubernetes-preserve-unknown-fields"] != true {
                    errors.push(format!("{child_path}: unknown field"));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_schema(&schema["items"], item, &format!("{path}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

fn crd_schema() -> Value {
    let crd = yaml(CRD);
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Argo CD's git file generator matches with Go's `path.Match`, where `*`
/// is any run of non-`/` characters: globset's `literal_separator`.
fn glob(pattern: &str) -> globset::GlobMatcher {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .unwrap()
        .compile_matcher()
}

#[test]
fn the_glob_matches_as_go_path_match_does() {
    let matcher = glob("generated/*/prod/*/stamp-target.json");
    assert!(matcher.is_match("generated/web/prod/eu/stamp-target.json"));
    assert!(!matcher.is_match("generated/web/x/prod/eu/stamp-target.json"));
    assert!(!matcher.is_match("generated/web/dev/eu/stamp-target.json"));
}

#[test]
fn schema_checker_rejects_what_argo_cd_would() {
    let schema = crd_schema();
    let mut errors = Vec::new();
    let bad = serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "x"}, "spec": {"generators": [], "template": {"metadata": {}, "spec": {
            "project": "p", "destination": {}, "sourcce": {}}}, "syncPolicy": {"applicationsSync": "never"}}});
    check_schema(&schema, &bad, "", &mut errors);
    assert!(
        errors.iter().any(|e| e.contains(".sourcce: unknown field")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("applicationsSync")), "{errors:?}");
}

#[test]
fn application_sets_match_the_crd_and_argo_cd_rules() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let schema = crd_schema();
    for env in ["dev", "prod"] {
        let text = test.read(&format!("generated/argocd/{env}.yaml"));
        let appset = yaml(&text);
        let mut errors = Vec::new();
        check_schema(&schema, &appset, "", &mut errors);
        assert_eq!(errors, Vec::<String>::new(), "{text}");

        let spec = &appset["spec"];
        assert_eq!(spec["goTemplate"], true);
        assert_eq!(spec["goTemplateOptions"], serde_json::json!(["missingkey=error"]));
        assert_eq!(
            spec["template"]["metadata"]["annotations"]["argocd.argoproj.io/manifest-generate-paths"],
            "."
        );
        assert_eq!(spec["template"]["spec"]["source"]["path"], "{{.path.path}}");
        let manual = env == "prod";
        assert_eq!(
            spec["syncPolicy"]["preserveResourcesOnDeletion"] == true,
            manual,
            "{text}"
        );

        // The file pattern matches exactly this environment's parameter files.
        let pattern = spec["generators"][0]["git"]["files"][0]["path"].as_str().unwrap();
        let all: Vec<String> = test
            .tree()
            .lines()
            .filter_map(|l| l.strip_prefix("=== "))
            .map(String::from)
            .collect();
        let matcher = glob(pattern);
        let matched: Vec<&String> = all.iter().filter(|p| matcher.is_match(p.as_str())).collect();
        let expected: Vec<&String> = all
            .iter()
            .filter(|p| p.ends_with("/stamp-target.json") && p.split('/').nth(2) == Some(env))
            .collect();
        assert_eq!(matched, expected);
        assert!(!matched.is_empty());

        // Each parameter file has what the template uses and no `path` key.
        let mut names = Vec::new();
        for file in matched {
            let params: Value = serde_json::from_str(&test.read(file)).unwrap();
            assert!(params.get("path").is_none(), "{file} must not set `path`");
            for key in ["name", "service", "env", "region", "cluster", "namespace", "team"] {
                assert!(params[key].is_string(), "{file} lacks {key}");
            }
            let name = params["name"].as_str().unwrap().to_string();
            assert!(
                name.len() <= 63
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
            names.push(name);
        }
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "Application names must be unique");
    }
}

#[test]
fn adding_changing_or_removing_a_service_leaves_application_sets_alone() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let before: Vec<_> = test.mtimes("generated/argocd");
    let snapshot = |t: &Test| ["dev", "prod"].map(|e| t.read(&format!("generated/argocd/{e}.yaml")));
    let contents = snapshot(&test);
    std::thread::sleep(std::time::Duration::from_millis(20));

    test.write(
        "catalog/services/extra.yaml",
        &test
            .read("catalog/services/web.yaml")
            .replace("name: web", "name: extra"),
    );
    test.expect(&["build"], 0);
    test.write(
        "catalog/services/web.yaml",
        &test.read("catalog/services/web.yaml").replace("1.0.0", "2.0.0"),
    );
    test.expect(&["build"], 0);
    test.remove("catalog/services/jobs.yaml");
    test.expect(&["build"], 0);

    assert!(test.exists("generated/extra/prod/us/stamp-target.json"));
    assert_eq!(snapshot(&test), contents);
    assert_eq!(test.mtimes("generated/argocd"), before);
}

#[test]
fn drift_in_application_sets_and_codeowners_fails_check() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.write(
        "generated/argocd/prod.yaml",
        &test
            .read("generated/argocd/prod.yaml")
            .replace("prune: true", "prune: false"),
    );
    let out = test.expect(&["check"], 1);
    insta::assert_snapshot!("application_set_drift", out.stdout);
    test.expect(&["build"], 0);
    test.write(
        ".github/CODEOWNERS",
        &test.read(".github/CODEOWNERS").replace("@example/team-b", "@someone"),
    );
    let out = test.expect(&["check"], 1);
    insta::assert_snapshot!("codeowners_drift", out.stdout);
}
