//! Preview environments: `preview: true` in environments.yaml, the pull
//! request ApplicationSet and AppProject, and `stamp preview`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::test::{Output, Test};

/// The basic fixture with a preview environment, built and committed.
fn committed() -> Test {
    let test = Test::fixture("basic").overlay("preview");
    test.expect(&["build"], 0);
    test.commit("base");
    test
}

/// Every file under `dir` with its content, in path order.
fn folder(test: &Test, dir: &str) -> String {
    fn walk(root: &Path, rel: &str, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(rel)).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = format!("{rel}/{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(test.path(), dir, &mut files);
    files
        .into_iter()
        .map(|path| format!("=== {path}\n{}", test.read(&path)))
        .collect()
}

fn documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|value| !value.is_null())
        .collect()
}

/// The temp dir and the test binary's timing out of error text.
fn plain(test: &Test, out: &Output) -> String {
    out.stderr.replace(&test.path().display().to_string(), "<repo>")
}

#[test]
fn a_preview_environment_is_no_target_and_gets_the_pull_request_application_set() {
    let test = Test::fixture("basic").overlay("preview");
    test.expect(&["build"], 0);
    assert!(!test.exists("generated/web/preview"));
    assert!(!test.exists("generated/jobs/preview"));
    let text = test.read("generated/argocd/preview.yaml");
    insta::assert_snapshot!("preview_argocd", text);
    let mut files: Vec<_> = std::fs::read_dir(test.path().join("generated/argocd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["dev.yaml", "preview.yaml", "prod.yaml"]);
    let objects = documents(&text);
    let kinds: Vec<_> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ApplicationSet", "AppProject"]);
    for object in &objects {
        let problems: Vec<String> = stamp_kube::validate(object)
            .iter()
            .map(|e| format!("{} at {}: {}", object["kind"], e.path, e.message))
            .collect();
        assert_eq!(problems, Vec::<String>::new());
    }
    // Without a preview environment there is no preview file.
    let plain = Test::fixture("basic");
    plain.expect(&["build"], 0);
    assert!(!plain.exists("generated/argocd/preview.yaml"));
}

/// A broken `preview` key fails closed like any environments.yaml problem.
#[test]
fn a_broken_preview_key_writes_nothing() {
    for (name, from, to) in [
        ("value", "preview: true", "preview: yes please"),
        (
            "second",
            "  preview:\n",
            "  staging:\n    preview: true\n    regions:\n      eu: { cluster: https://staging-eu.example.com }\n  preview:\n",
        ),
        (
            "regions",
            "eu: { cluster: https://preview-eu.example.com }",
            "eu: { cluster: https://preview-eu.example.com }\n      us: { cluster: https://preview-us.example.com }",
        ),
    ] {
        let test = Test::fixture("basic").overlay("preview");
        test.expect(&["build"], 0);
        let before = test.tree();
        test.edit("catalog/environments.yaml", from, to);
        let out = test.expect(&["build"], 2);
        insta::assert_snapshot!(format!("preview_broken_{name}"), out.messages());
        assert_eq!(test.tree(), before, "{name}");
        assert_eq!(out.stdout, "");
    }
}

/// The pull request generator needs GitHub's owner and repository.
#[test]
fn a_repo_url_without_owner_and_repository_writes_nothing() {
    let test = Test::fixture("basic").overlay("preview");
    test.expect(&["build"], 0);
    let before = test.tree();
    test.edit("stamp.yaml", "https://github.com/example/platform", "platform");
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!(out.messages(), @r"
    error: stamp.yaml:1:11: repo_url `platform` has no owner and repository for the preview environment's pull request generator
    hint: write the GitHub address, e.g. `https://github.com/acme/platform`
    error: shared inputs have errors; nothing was written or removed
    hint: the committed output is left as it was until the errors above are fixed
    ");
    assert_eq!(test.tree(), before);
}

#[test]
fn a_service_listing_the_preview_environment_is_an_error_at_that_entry() {
    let test = Test::fixture("basic").overlay("preview");
    test.edit("catalog/services/jobs.yaml", "[dev, prod]", "[dev, prod, preview]");
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!(out.messages(), @r"
    error: catalog/services/jobs.yaml:4:27: environment `preview` is a preview environment; services do not list it
    hint: every service can be previewed with `stamp preview`; settings for it go under `overrides.preview`
    ");
    // The other service still builds.
    assert!(test.exists("generated/web/dev/eu/manifests.yaml"));
}

#[test]
fn preview_renders_changed_and_named_services_into_their_own_namespaces() {
    let test = committed();
    test.edit("catalog/services/web.yaml", "tag: \"1.0.0\"", "tag: \"1.1.0\"");
    test.commit("change web");
    let generated = test.tree();
    let out = test.expect(&["preview", "pr-12", "--base", "HEAD~1", "--service", "jobs"], 0);
    assert_eq!(out.stdout, "jobs\tpr-12-jobs\nweb\tpr-12-web\n");
    insta::assert_snapshot!("preview_rendered", folder(&test, "preview"));
    assert_eq!(test.tree(), generated, "generated/ is never touched");
    // A second run replaces the folder as a whole.
    let out = test.expect(&["preview", "pr-12", "--base", "HEAD"], 0);
    assert_eq!(out.stdout, "");
    assert_eq!(
        folder(&test, "preview"),
        "=== preview/.stamp-preview\n# Generated by stamp: `stamp preview pr-12` for environment `preview`; do not edit.\n"
    );
}

/// `overrides.<preview env>` applies, and changing only it previews the
/// service; its values stay values whatever they hold.
#[test]
fn a_preview_override_applies_and_stays_a_value() {
    let test = committed();
    test.edit(
        "catalog/services/jobs.yaml",
        "overrides:\n",
        "overrides:\n  preview:\n    replicas: 1\n    env: { NOTE: \"a\\n---\\nkind: Secret\\n\\\"{{ x }}\\\" 'q'\" }\n",
    );
    test.commit("preview settings");
    test.expect(&["build"], 0);
    let out = test.expect(&["preview", "pr-7", "--base", "HEAD~1"], 0);
    assert_eq!(out.stdout, "jobs\tpr-7-jobs\n");
    let text = test.read("preview/jobs/manifests.yaml");
    let objects = documents(&text);
    let config = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    assert_eq!(config["data"]["NOTE"], "a\n---\nkind: Secret\n\"{{ x }}\" 'q'");
    assert!(objects.iter().all(|o| o["kind"] != "Secret"));
    let deployment = objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["metadata"]["namespace"], "pr-7-jobs");
    assert_eq!(objects[0]["kind"], "Namespace");
    assert_eq!(objects[0]["metadata"]["name"], "pr-7-jobs");
}

#[test]
fn a_namespace_too_long_names_the_service() {
    let test = committed();
    let name = format!("pr-{}", "1".repeat(57));
    let out = test.expect(&["preview", &name, "--base", "HEAD", "--service", "web"], 2);
    insta::assert_snapshot!(out.messages(), @r"
    error: catalog/services/web.yaml:1:7: namespace `pr-111111111111111111111111111111111111111111111111111111111-web` is 64 characters long; Kubernetes allows 63
    hint: preview namespaces are `<name>-<service>`: shorten the service name
    ");
    assert!(!test.exists("preview"));
}

#[test]
fn bad_names_services_and_folders_are_refused() {
    let test = committed();
    test.write("notes/keep.txt", "mine\n");
    let cases: [(&str, &[&str]); 6] = [
        ("name", &["preview", "feature-1", "--base", "HEAD"]),
        ("service", &["preview", "pr-1", "--base", "HEAD", "--service", "wbe"]),
        (
            "generated",
            &["preview", "pr-1", "--base", "HEAD", "--out", "generated"],
        ),
        ("root", &["preview", "pr-1", "--base", "HEAD", "--out", "."]),
        (
            "outside",
            &["preview", "pr-1", "--base", "HEAD", "--out", "../elsewhere"],
        ),
        ("not-ours", &["preview", "pr-1", "--base", "HEAD", "--out", "notes"]),
    ];
    let mut all = String::new();
    for (case, args) in cases {
        let out = test.expect(args, 2);
        all.push_str(&format!("--- {case}\n{}", plain(&test, &out)));
    }
    insta::assert_snapshot!("preview_refused", all);
    assert_eq!(test.read("notes/keep.txt"), "mine\n");
}

/// An absolute folder outside the repo is fine when empty or an earlier
/// preview, and never `generated/` through another spelling.
#[test]
fn an_absolute_output_folder_outside_the_repo() {
    let test = committed();
    let outside = tempfile::tempdir().unwrap();
    let dir = outside.path().join("pr-3");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.to_str().unwrap();
    let out = test.expect(
        &["preview", "pr-3", "--base", "HEAD", "--service", "web", "--out", dir],
        0,
    );
    assert_eq!(out.stdout, "web\tpr-3-web\n");
    let out = test.expect(
        &["preview", "pr-3", "--base", "HEAD", "--service", "jobs", "--out", dir],
        0,
    );
    assert_eq!(out.stdout, "jobs\tpr-3-jobs\n");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".stamp-preview", "jobs"]);
    let generated = test.path().join("generated/../generated");
    let out = test.expect(
        &[
            "preview",
            "pr-3",
            "--base",
            "HEAD",
            "--out",
            generated.to_str().unwrap(),
        ],
        2,
    );
    assert_eq!(
        plain(&test, &out),
        "error: `<repo>/generated/../generated` cannot hold a preview: `generated/` holds what Argo CD deploys; previews go elsewhere (default `preview/`)\n"
    );
}

#[test]
fn without_a_preview_environment_preview_is_refused() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.commit("base");
    let out = test.expect(&["preview", "pr-1", "--base", "HEAD"], 2);
    insta::assert_snapshot!(out.stderr, @r"
    error: no environment in `catalog/environments.yaml` has `preview: true`
    hint: add one environment with one region and `preview: true`
    ");
}

/// The workflow `stamp init` writes (the repo's own): least privilege,
/// one stamp build, every matrix slot bounded, previews never for forks.
/// CI also checks it against GitHub's workflow schema (`.ci/run`).
#[test]
fn the_workflow_builds_once_and_writes_only_where_it_must() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(".github/workflows/platform.yml")).unwrap();
    let workflow: Value = serde_norway::from_str(&text).unwrap();
    // `pull_request`, never `pull_request_target`: a fork's code never runs with write access.
    let events: Vec<&String> = workflow["on"].as_object().unwrap().keys().collect();
    assert_eq!(events, ["pull_request", "push"]);
    assert_eq!(workflow["permissions"], serde_json::json!({"contents": "read"}));
    assert_eq!(workflow["concurrency"]["cancel-in-progress"], true);
    let jobs = workflow["jobs"].as_object().unwrap();
    let mut writers = Vec::new();
    let mut builds = Vec::new();
    for (name, job) in jobs {
        if let Some(permissions) = job["permissions"].as_object() {
            for (scope, level) in permissions {
                if level == "write" {
                    writers.push(format!("{name}: {scope}"));
                }
            }
        }
        let steps = job["steps"].as_array().map(Vec::as_slice).unwrap_or_default();
        if steps
            .iter()
            .any(|s| s["run"].as_str().is_some_and(|r| r.contains("cargo install")))
        {
            builds.push(name.as_str());
        }
        if job["strategy"]["matrix"].is_string() {
            assert!(job["strategy"]["max-parallel"].is_u64(), "{name}");
        }
        if job["permissions"]["contents"] == "write" || job["permissions"]["pull-requests"] == "write" {
            let condition = job["if"].as_str().unwrap();
            assert!(
                condition.contains("github.event.pull_request.head.repo.full_name == github.repository"),
                "{name} writes for forks: {condition}"
            );
        }
    }
    assert_eq!(
        writers,
        [
            "comment: pull-requests",
            "preview: contents",
            "preview-cleanup: contents"
        ]
    );
    assert_eq!(builds, ["stamp"]);
    // Every matrix `affected` prints gets a matrix job of its own, a job per
    // target: one call of validate-matrix.yml per matrix, and the required
    // status waits for them.
    let validate = &jobs["validate"];
    assert_eq!(validate["uses"], "./.github/workflows/validate-matrix.yml");
    assert_eq!(
        validate["strategy"]["matrix"],
        "${{ fromJSON(needs.plan.outputs.matrix-indices) }}"
    );
    assert_eq!(validate["with"]["index"], "${{ matrix.index }}");
    assert_eq!(jobs["tier"]["needs"], serde_json::json!(["plan", "validate"]));
    let called: Value =
        serde_norway::from_str(&std::fs::read_to_string(root.join(".github/workflows/validate-matrix.yml")).unwrap())
            .unwrap();
    assert_eq!(called["permissions"], serde_json::json!({"contents": "read"}));
    assert!(called["on"]["workflow_call"]["inputs"]["index"]["required"] == true);
    let per_target = &called["jobs"]["validate"]["strategy"];
    assert_eq!(per_target["matrix"], "${{ fromJSON(needs.targets.outputs.matrix) }}");
    assert_eq!(per_target["max-parallel"], 20);
    let plan = jobs["plan"]["steps"].as_array().unwrap();
    let runs: Vec<&str> = plan.iter().filter_map(|s| s["run"].as_str()).collect();
    let affected_runs = (jobs.values())
        .flat_map(|job| job["steps"].as_array().map(Vec::as_slice).unwrap_or_default())
        .filter_map(|s| s["run"].as_str())
        .map(|r| r.matches("stamp affected").count())
        .sum::<usize>();
    assert_eq!(affected_runs, 1, "the workflow runs `affected` once");
    assert!(
        runs.iter()
            .any(|r| r.contains("stamp affected --base HEAD~1 --format json"))
    );
    let preview = jobs["preview"]["steps"].as_array().unwrap();
    let push = preview.iter().filter_map(|s| s["run"].as_str()).collect::<String>();
    assert!(push.contains("preview \"pr-$PR\" --base HEAD~1"), "{push}");
    assert!(
        push.contains("git push --force origin \"$commit:refs/heads/stamp-preview/pr-$PR\""),
        "{push}"
    );
}
