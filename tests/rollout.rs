//! Progressive delivery (SPEC §4 "Rollout strategy"): every strategy on the
//! built-in archetypes it applies to, one broken fixture per error, tiers and
//! `explain`.

use crate::errors::failed_build;
use crate::test::Test;

/// The rollout fixture: rolling, canary (with and without an ingress, with
/// analysis) and blue-green on api; rolling and canary on worker.
fn base() -> Test {
    Test::fixture("rollout/base")
}

#[test]
fn every_strategy_on_api_and_worker() {
    let test = base();
    test.expect(&["build"], 0);
    insta::assert_snapshot!("rollout_tree", test.tree());
}

/// The diagnostics of a build of the base with `rollout/<case>` over it,
/// which fails the service `broken` only.
fn broken(case: &str) -> String {
    let test = base().overlay(&format!("rollout/{case}"));
    // Where each error points is in its snapshot.
    let stderr = failed_build(&test, "");
    assert!(
        !test.exists("generated/broken"),
        "{case}: the broken service has output"
    );
    assert!(
        test.exists("generated/api-rolling/dev/eu/manifests.yaml"),
        "{case}: other services are built"
    );
    stderr
}

#[test]
fn steps_not_ascending() {
    insta::assert_snapshot!("rollout_steps_not_ascending", broken("steps-not-ascending"));
}

#[test]
fn last_step_not_100() {
    insta::assert_snapshot!("rollout_last_step_not_100", broken("last-step-not-100"));
}

#[test]
fn bad_duration() {
    insta::assert_snapshot!("rollout_bad_duration", broken("bad-duration"));
}

#[test]
fn percent_over_100() {
    insta::assert_snapshot!("rollout_percent_over_100", broken("percent-over-100"));
}

#[test]
fn surge_and_unavailable_zero() {
    insta::assert_snapshot!(
        "rollout_surge_and_unavailable_zero",
        broken("surge-and-unavailable-zero")
    );
}

#[test]
fn unknown_key_with_did_you_mean() {
    insta::assert_snapshot!("rollout_unknown_key", broken("unknown-key"));
}

#[test]
fn analysis_without_prometheus() {
    insta::assert_snapshot!(
        "rollout_analysis_without_prometheus",
        broken("analysis-without-prometheus")
    );
}

#[test]
fn blue_green_on_worker() {
    insta::assert_snapshot!("rollout_blue_green_on_worker", broken("blue-green-on-worker"));
}

#[test]
fn rollout_on_cronjob() {
    insta::assert_snapshot!("rollout_on_cronjob", broken("rollout-on-cronjob"));
}

/// The base built and committed, then `change` applied: `affected` in the
/// `auto` environment `dev`.
fn affected_after(change: impl Fn(&Test)) -> String {
    let test = base();
    test.expect(&["build"], 0);
    test.commit("base");
    change(&test);
    test.expect(&["affected", "--base", "HEAD"], 0).stdout
}

#[test]
fn a_strategy_change_needs_the_manual_tier() {
    let out = affected_after(|t| {
        t.edit(
            "catalog/services/api-rolling.yaml",
            "strategy: rolling",
            "strategy: canary",
        );
        t.edit("catalog/services/api-rolling.yaml", "  max_unavailable: 25%\n", "");
        t.edit("catalog/services/api-rolling.yaml", "  max_surge: 2\n", "");
    });
    insta::assert_snapshot!("rollout_affected_strategy", out);
}

#[test]
fn weaker_analysis_needs_the_manual_tier_and_stronger_does_not() {
    let out = affected_after(|t| {
        t.edit(
            "catalog/services/api-canary.yaml",
            "success_rate: 99.5",
            "success_rate: 99",
        );
        t.edit(
            "catalog/services/api-canary.yaml",
            "latency_p99_ms: 300",
            "latency_p99_ms: 250",
        );
    });
    insta::assert_snapshot!("rollout_affected_weaker", out);
    let out = affected_after(|t| {
        t.edit(
            "catalog/services/api-canary.yaml",
            "success_rate: 99.5",
            "success_rate: 99.9",
        );
    });
    insta::assert_snapshot!("rollout_affected_stronger", out);
}

#[test]
fn explain_shows_the_rollout_and_where_it_came_from() {
    let test = base();
    let out = test.expect(&["explain", "api-canary"], 0);
    let rollout: String = out
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("rollout."))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("rollout_explain", rollout);
}

/// A platform archetype writing its own Rollout is held to the CRD as
/// strictly as a core kind: an unknown field fails, naming the template.
#[test]
fn a_platform_rollout_with_an_unknown_field_fails_naming_the_template() {
    let test = base();
    test.write(
        "archetypes/custom/archetype.kdl",
        "name \"custom\"\ntemplate \"rollout.yaml.j2\" kind=\"Rollout\"\n",
    );
    test.write(
        "archetypes/custom/rollout.yaml.j2",
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: {{ service }}\nspec:\n  selector:\n    matchLabels: {{ selector }}\n  strategy:\n    canary:\n      stepz: []\n  template:\n    metadata:\n      labels: {{ selector }}\n    spec:\n      containers:\n        - name: app\n          image: {{ image.ref }}\n",
    );
    test.edit(
        "catalog/profiles.yaml",
        "  batch:\n",
        "  custom:\n    archetype: custom\n  batch:\n",
    );
    test.edit(
        "catalog/services/worker-canary.yaml",
        "profile: worker",
        "profile: custom",
    );
    test.edit(
        "catalog/services/worker-canary.yaml",
        "rollout: { strategy: canary, steps: [10, 100], pause: 30s }",
        "",
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("rollout_platform_unknown_field", out.messages());
}

/// A prometheus address is a value: quotes, braces and `---` stay in the
/// one string the AnalysisTemplate holds; a newline is refused at its line.
#[test]
fn a_hostile_prometheus_address_stays_a_value() {
    let test = base();
    let hostile = r#"http://prom/?q="'{{x}}'---&a=b:{c}"#;
    let good = "prometheus: http://prometheus.monitoring:9090\n    regions:\n      eu: { cluster: https://dev-eu";
    test.edit(
        "catalog/environments.yaml",
        good,
        &good.replace(
            "http://prometheus.monitoring:9090",
            &format!("'{}'", hostile.replace('\'', "''")),
        ),
    );
    test.expect(&["build"], 0);
    let manifests = test.read("generated/api-canary/dev/eu/manifests.yaml");
    let template = manifests
        .split("\n---\n")
        .map(|d| serde_norway::from_str::<serde_json::Value>(d).unwrap())
        .find(|d| d["kind"] == "AnalysisTemplate")
        .unwrap();
    assert_eq!(
        template["spec"]["metrics"][0]["provider"]["prometheus"]["address"],
        hostile
    );
    test.edit(
        "catalog/environments.yaml",
        &format!("'{}'", hostile.replace('\'', "''")),
        "\"http://a\\n---\\nkind: Secret\"",
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("rollout_prometheus_newline", out.messages());
}

/// A broken `prometheus` in environments.yaml fails closed.
#[test]
fn a_broken_prometheus_address_leaves_generated_byte_identical() {
    let test = base();
    test.expect(&["build"], 0);
    let before = test.tree();
    test.edit(
        "catalog/environments.yaml",
        "prometheus: http://prometheus.monitoring:9090",
        "prometheus: [http://prometheus]",
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("rollout_broken_prometheus", out.messages());
    assert_eq!(test.tree(), before);
}

/// The documents of a manifests file, parsed.
fn documents(text: &str) -> Vec<serde_json::Value> {
    text.split("\n---\n")
        .map(|d| serde_norway::from_str::<serde_json::Value>(d).unwrap())
        .filter(|d| !d.is_null())
        .collect()
}

fn find<'a>(docs: &'a [serde_json::Value], kind: &str) -> Option<&'a serde_json::Value> {
    docs.iter().find(|d| d["kind"] == kind)
}

/// Switching a live target from rolling to canary: the Rollout takes the
/// Deployment's pod template, selector and labels as they were, syncs
/// last, and both carry PruneLast, so Argo CD removes the Deployment only
/// once the Rollout is healthy (README "Switching a live service").
#[test]
fn switching_to_canary_keeps_the_pod_template_and_prunes_the_deployment_last() {
    let test = base();
    test.expect(&["build"], 0);
    let path = "generated/api-rolling/dev/eu/manifests.yaml";
    let before = documents(&test.read(path));
    test.edit(
        "catalog/services/api-rolling.yaml",
        "strategy: rolling",
        "strategy: canary",
    );
    test.expect(&["build"], 0);
    let after = documents(&test.read(path));
    let deployment = find(&before, "Deployment").unwrap();
    let rollout = find(&after, "Rollout").unwrap();
    assert!(find(&after, "Deployment").is_none());
    for key in ["selector", "template", "revisionHistoryLimit", "replicas"] {
        assert_eq!(rollout["spec"][key], deployment["spec"][key], "{key}");
    }
    assert_eq!(rollout["metadata"]["labels"], deployment["metadata"]["labels"]);
    let prune = |d: &serde_json::Value| d["metadata"]["annotations"]["argocd.argoproj.io/sync-options"].clone();
    assert_eq!(prune(deployment), "PruneLast=true");
    assert_eq!(prune(rollout), "PruneLast=true");
    let wave = |d: &serde_json::Value| {
        d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    let last_other = after.iter().filter(|d| d["kind"] != "Rollout").map(wave).max().unwrap();
    assert_eq!(wave(rollout), last_other + 1);
}
