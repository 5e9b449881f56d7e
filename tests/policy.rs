//! SPEC §5: built-in rules, `policies/*.rego` and exceptions, on every
//! rendered target before it is written.

use crate::test::{Test, stamp};

/// A service of profile `profile` (one per rule in `policy/rules`).
fn service(name: &str, profile: &str, extra: &str) -> String {
    format!(
        "name: {name}\nprofile: {profile}\nsize: small\nenvironments: [dev]\nimage:\n  repository: ghcr.io/example/{name}\n  tag: \"1.0.0\"\nowners:\n  team: team-a\n{extra}"
    )
}

/// Builds `basic` plus the rule-breaking archetypes with one service of
/// profile `rule`: exit 2, the other services built, the messages returned.
fn violated(rule: &str) -> String {
    let test = Test::fixture("basic").overlay("policy/rules");
    test.write("catalog/services/probe.yaml", &service("probe", rule, ""));
    let out = test.expect(&["build"], 2);
    assert!(test.exists("generated/web/dev/eu/manifests.yaml"));
    assert!(!test.exists("generated/probe"));
    out.messages()
}

#[test]
fn image_tag_from_a_template() {
    insta::assert_snapshot!(violated("image-tag"));
}

#[test]
fn run_as_high_uid() {
    insta::assert_snapshot!(violated("run-as-high-uid"));
}

#[test]
fn writable_tmp() {
    insta::assert_snapshot!(violated("writable-tmp"));
}

#[test]
fn probes() {
    insta::assert_snapshot!(violated("probes"));
}

#[test]
fn resources() {
    insta::assert_snapshot!(violated("resources"));
}

#[test]
fn image_digest() {
    insta::assert_snapshot!(violated("image-digest"));
}

#[test]
fn pdb_allows_disruption() {
    insta::assert_snapshot!(violated("pdb-allows-disruption"));
}

/// A value from the catalog is reported at its line in the service file.
#[test]
fn image_tag_points_at_the_catalog_line() {
    let test = Test::fixture("basic");
    test.edit("catalog/services/web.yaml", "tag: \"1.0.0\"", "tag: latest");
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!(out.messages());
    assert!(test.exists("generated/jobs/dev/eu/manifests.yaml"));
}

/// The built-in archetypes pass every rule; a worker without a probe warns.
#[test]
fn built_ins_pass_and_a_worker_without_probes_warns() {
    let test = Test::fixture("basic");
    test.edit(
        "catalog/services/jobs.yaml",
        "  probe_command: /bin/healthcheck --live\n",
        "  {}\n",
    );
    let out = test.expect(&["build"], 0);
    let warnings: String = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:") || l.starts_with("  hint:"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(warnings);
    // -q prints only errors: a warning is not one.
    let quiet = test.expect(&["build", "-q", "--no-cache"], 0);
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));
    test.edit(
        "catalog/services/jobs.yaml",
        "  {}\n",
        "  probe_command: /bin/check --ready\n",
    );
    let out = test.expect(&["build"], 0);
    assert!(!out.stderr.contains("warning:"), "{}", out.stderr);
    let manifests = test.read("generated/jobs/dev/eu/manifests.yaml");
    assert!(
        manifests.contains("exec:\n              command:\n                - /bin/check\n                - --ready\n"),
        "{manifests}"
    );
}

const DENY_PROD_WEB: &str = "package main\n\ndeny contains msg if {\n  input.target.env == \"prod\"\n  input.target.service == \"web\"\n  msg := sprintf(\"%s of %s may not run in %s\", [input.target.service, input.target.team, input.target.env])\n}\n";

const WARN_SINGLE: &str = "package main\n\nwarn contains msg if {\n  some o in input.objects\n  o.kind == \"Deployment\"\n  o.metadata.name == \"jobs\"\n  msg := sprintf(\"%s in %s (%s)\", [o.metadata.name, input.target.region, input.target.approval])\n}\n";

#[test]
fn rego_deny_fails_the_target_and_keeps_its_output() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let before = test.read("generated/web/prod/eu/manifests.yaml");
    test.write("policies/no-web-in-prod.rego", DENY_PROD_WEB);
    test.edit("catalog/services/web.yaml", "ENABLED: true", "ENABLED: maybe");
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!(out.messages());
    assert_eq!(test.read("generated/web/prod/eu/manifests.yaml"), before);
    assert!(test.read("generated/web/dev/eu/manifests.yaml").contains("maybe"));
}

/// A rule that cannot decide for a target (two values for one complete
/// rule, only in prod) denies that target: a policy never fails open.
#[test]
fn a_rule_that_fails_to_evaluate_denies_the_target() {
    let test = Test::fixture("basic");
    test.write(
        "policies/conflict.rego",
        "package main\n\nlimit := 1 if { true }\n\nlimit := 2 if { input.target.env == \"prod\" }\n\ndeny contains msg if {\n  limit > 5\n  msg := \"never\"\n}\n",
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!(out.messages());
    assert!(test.exists("generated/web/dev/eu/manifests.yaml"));
    assert!(!test.exists("generated/web/prod/eu/manifests.yaml"));
}

#[test]
fn rego_warn_is_printed() {
    let test = Test::fixture("basic");
    test.write("policies/single.rego", WARN_SINGLE);
    let out = test.expect(&["build"], 0);
    let warnings: String = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains("`single`"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(warnings);
}

/// A policy is an input of every target: editing one re-checks targets
/// whose catalog did not change.
#[test]
fn a_policy_edit_rechecks_unchanged_targets() {
    let test = Test::fixture("basic");
    test.write("policies/single.rego", WARN_SINGLE);
    test.expect(&["build"], 0);
    assert_eq!(
        test.expect(&["build"], 0).summary(),
        "built 7 targets of 3 services (0 rendered, 0 objects): 0 files written, 0 removed, 25 unchanged"
    );
    test.write("policies/single.rego", DENY_PROD_WEB);
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!(out.summary());
}

/// A policy that does not compile is a broken shared input: nothing is
/// written or removed.
#[test]
fn a_broken_policy_fails_closed() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let before = test.tree();
    test.write(
        "policies/broken.rego",
        "package main\n\ndeny contains msg if {\n  msg := \n}\n",
    );
    test.remove("catalog/services/report.yaml");
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!(out.messages());
    assert_eq!(test.tree(), before);
    test.write(
        "policies/broken.rego",
        "package other\n\ndeny contains \"x\" if { true }\n",
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!(out.messages());
    assert_eq!(test.tree(), before);
}

/// Runs `stamp <args>` on `test` with today pinned.
fn on_day(test: &Test, today: &str, args: &[&str], code: i32) -> (String, String) {
    let out = test.command(args).env("STAMP_TODAY", today).assert().code(code);
    let out = out.get_output();
    (
        String::from_utf8(out.stdout.clone()).unwrap(),
        String::from_utf8(out.stderr.clone()).unwrap(),
    )
}

fn messages(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| l.starts_with("error:") || l.starts_with("hint:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

const EXCEPTION: &str =
    "policy_exceptions:\n  - rule: probes\n    reason: the health endpoint ships in 2.2\n    expires: 2027-03-31\n";

#[test]
fn an_exception_waives_a_rule_through_its_expiry() {
    let test = Test::fixture("basic").overlay("policy/rules");
    test.write("catalog/services/probe.yaml", &service("probe", "probes", EXCEPTION));
    on_day(&test, "2027-03-31", &["build"], 0);
    assert!(test.exists("generated/probe/dev/eu/manifests.yaml"));
    let (_, stderr) = on_day(&test, "2027-04-01", &["build", "--no-cache"], 2);
    insta::assert_snapshot!(messages(&stderr));
    let (stdout, _) = on_day(&test, "2027-03-01", &["policy"], 0);
    insta::assert_snapshot!(stdout);
}

#[test]
fn an_unused_exception_is_an_error() {
    let test = Test::fixture("basic").overlay("policy/rules");
    let unused = "policy_exceptions:\n  - { rule: resources, reason: x, expires: 2027-03-31 }\noverrides:\n  dev:\n    policy_exceptions:\n      - { rule: run-as-hihg-uid, reason: y, expires: 2027-03-31 }\n";
    test.write("catalog/services/probe.yaml", &service("probe", "probes", unused));
    let (_, stderr) = on_day(&test, "2027-01-01", &["build"], 2);
    insta::assert_snapshot!(messages(&stderr));
    assert!(!test.exists("generated/probe"));
    assert!(test.exists("generated/web/dev/eu/manifests.yaml"));
}

/// Whatever an exception's reason holds, it stays a value: never output,
/// quoted in `stamp policy`, a plain string in its JSON.
#[test]
fn hostile_exception_reasons_stay_values() {
    let test = Test::fixture("basic").overlay("policy/rules");
    let hostile = "policy_exceptions:\n  - rule: probes\n    reason: \"a\\n---\\nkind: Secret\\n{{ service }} \\\"q\\\" {% raw %}\"\n    expires: 2027-03-31\n";
    test.write("catalog/services/probe.yaml", &service("probe", "probes", hostile));
    on_day(&test, "2027-01-01", &["build"], 0);
    assert!(!test.read("generated/probe/dev/eu/manifests.yaml").contains("Secret"));
    let (stdout, _) = on_day(&test, "2027-01-01", &["policy"], 0);
    insta::assert_snapshot!(stdout.lines().last().unwrap());
    let (json, _) = on_day(&test, "2027-01-01", &["--format", "json", "policy"], 0);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        value["exceptions"][0]["reason"],
        "a\n---\nkind: Secret\n{{ service }} \"q\" {% raw %}"
    );
}

#[test]
fn policy_lists_rules_policies_and_exceptions_as_json() {
    let test = Test::fixture("basic");
    test.write("policies/single.rego", WARN_SINGLE);
    test.edit("catalog/services/jobs.yaml", "owners:", &format!("{EXCEPTION}owners:"));
    test.edit(
        "catalog/services/jobs.yaml",
        "  probe_command: /bin/healthcheck --live\n",
        "  {}\n",
    );
    let out = stamp()
        .arg("-C")
        .arg(test.path())
        .args(["--format", "json", "policy"])
        .env("STAMP_TODAY", "2027-01-01")
        .assert()
        .code(0);
    insta::assert_snapshot!(String::from_utf8(out.get_output().stdout.clone()).unwrap());
}

/// Adding an exception changes no output, yet needs the manual tier.
#[test]
fn adding_an_exception_needs_the_manual_tier() {
    let test = Test::fixture("basic");
    test.edit(
        "catalog/services/jobs.yaml",
        "  probe_command: /bin/healthcheck --live\n",
        "  {}\n",
    );
    test.expect(&["build"], 0);
    test.commit("base");
    let exception = "policy_exceptions:\n  - { rule: probes, reason: no health check yet, expires: 2099-12-31 }\n";
    test.edit("catalog/services/jobs.yaml", "owners:", &format!("{exception}owners:"));
    test.expect(&["build"], 0);
    test.commit("exception");
    let out = test.expect(&["affected", "--base", "HEAD~1"], 0);
    insta::assert_snapshot!(out.stdout);
}

/// `require_digest: true` on an environment: the catalog refuses a service
/// image without a digest, and the `image-digest` rule catches the images a
/// platform template sets on its own (here a sidecar).
#[test]
fn image_digest_from_the_environment() {
    let test = Test::fixture("basic").overlay("policy/rules");
    let envs = test.read("catalog/environments.yaml");
    test.write(
        "catalog/environments.yaml",
        &format!("{envs}  secure:\n    approval: auto\n    require_digest: true\n    regions:\n      eu: {{ cluster: https://secure-eu.example.com }}\n"),
    );
    let kdl = test.read("archetypes/image-digest/archetype.kdl");
    test.write(
        "archetypes/image-digest/archetype.kdl",
        &kdl.replace("default=#true", "default=#false"),
    );
    let template = test.read("archetypes/image-digest/deployment.yaml.j2");
    let sidecar = "        - name: proxy\n          image: ghcr.io/example/proxy:2.0.0\n          readinessProbe:\n            tcpSocket: { port: 8080 }\n          livenessProbe:\n            tcpSocket: { port: 8080 }\n          resources:\n            requests: { cpu: 10m, memory: 16Mi }\n            limits: { cpu: 10m, memory: 16Mi }\n          volumeMounts:\n            - name: tmp\n              mountPath: /tmp\n          securityContext:\n            readOnlyRootFilesystem: true\n";
    test.write(
        "archetypes/image-digest/deployment.yaml.j2",
        &format!("{}\n{sidecar}", template.trim_end()),
    );
    let digest = "sha256:".to_string() + &"a".repeat(64);
    test.write(
        "catalog/services/probe.yaml",
        &service("probe", "image-digest", "")
            .replace("[dev]", "[secure]")
            .replace("  tag: \"1.0.0\"\n", &format!("  tag: \"1.0.0\"\n  digest: {digest}\n")),
    );
    let out = test.expect(&["build"], 2);
    assert!(test.exists("generated/web/dev/eu/manifests.yaml"));
    assert!(!test.exists("generated/probe"));
    insta::assert_snapshot!(out.messages());
}

/// A `policies/` folder made while `stamp watch` runs is watched: a policy
/// written into it re-checks every target.
#[test]
fn watch_picks_up_a_new_policies_folder() {
    let test = Test::fixture("basic");
    let (mut child, lines, _) = crate::watch::spawn_watch(&test);
    std::fs::create_dir(test.path().join("policies")).unwrap();
    assert_eq!(
        crate::watch::line_with(&lines, "policies"),
        "policies: 0 targets re-rendered, 0 files written, 0 removed in [time]"
    );
    test.write("policies/no-web-in-prod.rego", DENY_PROD_WEB);
    assert_eq!(
        crate::watch::line_with(&lines, "policies/no-web-in-prod.rego"),
        "policies/no-web-in-prod.rego: 5 targets re-rendered, 5 files written, 0 removed in [time], 1 error (the last good output is kept)"
    );
    let _ = child.kill();
    let _ = child.wait();
}
