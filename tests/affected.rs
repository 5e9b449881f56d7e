//! `stamp affected --base REV` on real git repositories.

use serde_json::Value;

use crate::test::Test;

/// The basic fixture, built and committed, then `change` applied and committed.
fn changed(change: impl Fn(&Test)) -> Test {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.commit("base");
    change(&test);
    test.expect(&["build"], 0);
    test.commit("change");
    test
}

fn affected(test: &Test) -> Value {
    let out = test.expect(&["affected", "--base", "HEAD~1", "--format", "json"], 0);
    serde_json::from_str(&out.stdout).unwrap()
}

fn ids(report: &Value) -> Vec<String> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}/{} {}",
                t["service"].as_str().unwrap(),
                t["env"].as_str().unwrap(),
                t["region"].as_str().unwrap(),
                t["status"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn archetype_change_lists_every_target_using_it_and_no_other() {
    let test = changed(|t| {
        t.edit(
            "archetypes/worker/deployment.yaml.j2",
            "revisionHistoryLimit: 5",
            "revisionHistoryLimit: 7",
        )
    });
    let report = affected(&test);
    assert_eq!(ids(&report), vec!["jobs/dev/eu changed", "jobs/prod/us changed"]);
    assert_eq!(report["tier"], "manual");
    assert!(
        report["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "platform-owned file changed: archetypes/worker/deployment.yaml.j2")
    );
    let text = test.expect(&["affected", "--base", "HEAD~1"], 0);
    insta::assert_snapshot!("affected_archetype_text", text.stdout);
}

#[test]
fn prod_override_lists_only_that_services_prod_targets_as_manual() {
    let test = changed(|t| {
        t.edit(
            "catalog/services/web.yaml",
            "image: { tag: \"0.9.0\" }",
            "image: { tag: \"0.9.1\" }",
        )
    });
    let report = affected(&test);
    assert_eq!(ids(&report), vec!["web/prod/eu changed", "web/prod/us changed"]);
    assert_eq!(report["tier"], "manual");
    assert!(
        report["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["tier"] == "manual")
    );
}

#[test]
fn int_only_change_is_auto() {
    let test = changed(|t| {
        t.edit(
            "catalog/services/jobs.yaml",
            "overrides:\n  prod:",
            "overrides:\n  dev:\n    replicas: 1\n  prod:",
        );
    });
    let report = affected(&test);
    assert_eq!(ids(&report), vec!["jobs/dev/eu changed"]);
    assert_eq!(report["tier"], "auto");
}

#[test]
fn new_service_is_added_and_deleted_one_removed() {
    let test = changed(|t| {
        let api2 = "name: api2\nprofile: worker\nsize: small\nenvironments: [dev]\nimage: { repository: ghcr.io/example/api2, tag: \"1.0.0\" }\nowners: { team: team-b }\n";
        t.write("catalog/services/api2.yaml", api2);
        t.remove("catalog/services/report.yaml");
    });
    let report = affected(&test);
    assert_eq!(
        ids(&report),
        vec!["api2/dev/eu added", "report/prod/eu removed", "report/prod/us removed"]
    );
    assert_eq!(report["tier"], "manual", "removing prod targets needs prod's approval");
}

#[test]
fn comment_only_change_lists_nothing() {
    let test = changed(|t| t.edit("catalog/services/web.yaml", "name: web", "# the storefront\nname: web"));
    let report = affected(&test);
    assert_eq!(ids(&report), Vec::<String>::new());
    assert_eq!(report["tier"], "auto");
    let matrix = test.expect(&["affected", "--base", "HEAD~1", "--format", "github-matrix"], 0);
    assert_eq!(matrix.stdout, "{\"include\":[]}\n");
}

#[test]
fn enabling_a_component_or_the_largest_size_raises_to_manual() {
    let test = changed(|t| {
        t.edit(
            "catalog/services/jobs.yaml",
            "overrides:\n  prod:",
            "overrides:\n  dev:\n    size: large\n    components: [hpa]\n  prod:",
        );
    });
    let report = affected(&test);
    let target = &report["targets"][0];
    assert_eq!(target["env"], "dev");
    assert_eq!(target["tier"], "manual");
    let reasons: Vec<&str> = target["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    insta::assert_snapshot!("dev_override_reasons", reasons.join("\n"));
}

#[test]
fn six_hundred_targets_come_as_three_matrices_of_at_most_256() {
    let test = Test::fixture("basic");
    test.commit("base");
    let jobs = test.read("catalog/services/jobs.yaml");
    // 200 services x 3 targets (dev/eu, prod/eu, prod/us) = 600 targets.
    for i in 0..200 {
        let text = jobs
            .replace("name: jobs", &format!("name: svc-{i:03}"))
            .replace("    regions: [us]\n", "");
        test.write(&format!("catalog/services/svc-{i:03}.yaml"), &text);
    }
    let out = test.expect(&["affected", "--base", "HEAD", "--format", "github-matrix"], 0);
    let matrices: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(matrices.len(), 3);
    let sizes: Vec<usize> = matrices
        .iter()
        .map(|m| m["include"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 600);
    assert!(sizes.iter().all(|&n| n <= 256), "{sizes:?}");
    // A service's targets stay in one matrix.
    for m in &matrices {
        for entry in m["include"].as_array().unwrap() {
            let service = entry["service"].as_str().unwrap();
            let here = m["include"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["service"] == service)
                .count();
            assert_eq!(here, 3, "{service} is split");
            for key in ["env", "region", "cluster", "namespace"] {
                assert!(entry[key].is_string());
            }
        }
    }
    let out = test.expect(
        &[
            "affected",
            "--base",
            "HEAD",
            "--format",
            "github-matrix",
            "--max-jobs",
            "100",
        ],
        0,
    );
    // 33 services (99 targets) fit in 100 jobs: 200 services need 7 matrices.
    assert_eq!(out.stdout.lines().count(), 7);
}

/// CI runs `affected` once: its JSON holds the matrices `github-matrix`
/// prints and the comment `markdown` prints, byte for byte.
#[test]
fn json_carries_the_matrices_and_the_comment() {
    let test = changed(|t| t.edit("catalog/services/web.yaml", "tag: \"1.0.0\"", "tag: \"1.0.1\""));
    let base = ["affected", "--base", "HEAD~1", "--max-jobs", "1", "--format"];
    let report = affected_with(&test, &[&base[..], &["json"]].concat());
    let matrix = test.expect(&[&base[..], &["github-matrix"]].concat(), 0);
    let markdown = test.expect(&[&base[..], &["markdown"]].concat(), 0);
    let lines: Vec<Value> = matrix
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert_eq!(report["matrices"], Value::Array(lines));
    assert_eq!(report["comment"], markdown.stdout.as_str());
}

fn affected_with(test: &Test, args: &[&str]) -> Value {
    serde_json::from_str(&test.expect(args, 0).stdout).unwrap()
}

#[test]
fn shared_file_change_still_affects_every_service() {
    // No service file changes, yet every target of every service moves:
    // a shared input differing must mean all services, never none.
    let test = changed(|t| {
        t.edit("catalog/sizes.yaml", "memory: 128Mi", "memory: 192Mi");
        t.edit("catalog/sizes.yaml", "memory: 1Gi", "memory: 2Gi");
    });
    let report = affected(&test);
    assert_eq!(
        ids(&report),
        vec![
            "jobs/dev/eu changed",
            "jobs/prod/us changed",
            "report/prod/eu changed",
            "report/prod/us changed",
            "web/dev/eu changed",
            "web/prod/eu changed",
            "web/prod/us changed"
        ]
    );
    assert_eq!(report["tier"], "manual");
}

/// Commits with a fixed date, so the comment's history notes are the same every run.
fn commit_at(test: &Test, message: &str, date: &str) {
    test.git(&["add", "-A"]);
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=Ana", "-c", "user.email=ana@example.com"])
        .args(["commit", "-q", "--allow-empty", "-m", message])
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .current_dir(test.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn markdown_comment_for_two_environments_needing_manual() {
    let test = Test::fixture("basic");
    // dev soaks for 1000 days: a version promoted out of it has not soaked.
    test.edit(
        "catalog/environments.yaml",
        "approval: auto\n",
        "approval: auto\n    soak: 1000d\n",
    );
    test.expect(&["build"], 0);
    test.commit("base");
    // prod ran 1.0.0 once and was rolled back to 0.9.0.
    let (old, new) = ("image: { tag: \"0.9.0\" }", "image: { tag: \"1.0.0\" }");
    test.edit("catalog/services/web.yaml", old, new);
    commit_at(&test, "prod to 1.0.0", "2026-01-02T10:00:00Z");
    test.edit("catalog/services/web.yaml", new, old);
    commit_at(&test, "roll prod back", "2026-01-03T10:00:00Z");
    // The pull request: promote 1.0.0 again, a hostile value, and an archetype edit.
    test.edit("catalog/services/web.yaml", old, new);
    test.edit(
        "catalog/services/jobs.yaml",
        "probe_command: /bin/healthcheck --live",
        "probe_command: \"/bin/x\\n## not a heading | `tick` ```` <details>{{ v }}</details>\"",
    );
    test.edit(
        "archetypes/worker/deployment.yaml.j2",
        "revisionHistoryLimit: 5",
        "revisionHistoryLimit: 7",
    );
    let out = test.expect(&["affected", "--base", "HEAD", "--format", "markdown"], 0);
    insta::assert_snapshot!("affected_markdown_two_envs", out.stdout);
}

#[test]
fn markdown_comment_is_summarised_when_too_large() {
    let test = Test::fixture("basic");
    test.commit("base");
    let jobs = test.read("catalog/services/jobs.yaml");
    for i in 0..200 {
        let text = jobs
            .replace("name: jobs", &format!("name: svc-{i:03}"))
            .replace("    regions: [us]\n", "");
        test.write(&format!("catalog/services/svc-{i:03}.yaml"), &text);
    }
    let out = test.expect(&["affected", "--base", "HEAD", "--format", "markdown"], 0);
    assert!(out.stdout.chars().count() < 65_536, "{}", out.stdout.len());
    insta::assert_snapshot!("affected_markdown_summarised", out.stdout);
}

#[test]
fn markdown_comment_says_a_platform_file_needs_manual_with_no_output_change() {
    let test = changed(|t| t.edit("catalog/profiles.yaml", "profiles:", "# reviewed\nprofiles:"));
    let out = test.expect(&["affected", "--base", "HEAD~1", "--format", "markdown"], 0);
    insta::assert_snapshot!("affected_markdown_platform_only", out.stdout);
}

/// The base's blobs are listed without their sizes: one over the bound that
/// differs from the working tree must still be sized before it is read, and
/// then left to the full reader, which names the file and never reads it.
#[test]
fn a_base_service_file_over_the_size_bound_is_never_read() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let file = "catalog/services/web.yaml";
    let original = test.read(file);
    test.write(file, &format!("{original}# {}\n", "x".repeat(5 << 20)));
    test.commit("an oversized service file");
    test.write(file, &original);
    let out = test.expect(&["affected", "--base", "HEAD"], 2);
    insta::assert_snapshot!("affected_oversized_base", out.stderr);
}
