//! Delivery operations of SPEC §4: the migration Job and the `alerts`
//! component. Whole output trees for the good cases; one broken fixture per
//! error, each exiting 2 at its file, line and column while every other
//! service still builds.

use serde_json::Value;

use crate::test::Test;

/// The objects of one manifests file, parsed.
fn documents(manifests: &str) -> Vec<Value> {
    manifests
        .split("\n---\n")
        .skip(1)
        // The split takes each document's last line break with it.
        .map(|d| serde_norway::from_str(&format!("{d}\n")).unwrap())
        .collect()
}

fn kinds(documents: &[Value]) -> Vec<String> {
    documents
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// Builds `basic`, breaks it with `ops/errors/<case>` and builds again: exit
/// 2 with the error at `location`, the committed tree as it was, and
/// `rebuilt`, a service the break does not touch, written again after its
/// output was deleted.
fn rejected(case: &str, location: &str, rebuilt: &str) {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let good = test.tree();
    let test = test.overlay(&format!("ops/errors/{case}"));
    std::fs::remove_dir_all(test.path().join("generated").join(rebuilt)).unwrap();
    let out = test.expect(&["build"], 2);
    assert!(
        out.stderr.contains(&format!("error: {location}")),
        "expected an error at {location}, got:\n{}",
        out.stderr
    );
    assert!(
        test.exists(&format!("generated/{rebuilt}")),
        "{rebuilt} was not rebuilt"
    );
    assert!(test.tree() == good, "the committed tree changed:\n{}", out.stderr);
    insta::assert_snapshot!(case, out.messages());
}

/// An api and a worker with a migration: each target gets a Job copied from
/// its Deployment's pod template, a Sync hook in wave 1 whose pods carry
/// no label the Service, the disruption budget or the Deployment selects.
#[test]
fn migration_on_api_and_worker() {
    let test = Test::fixture("basic").overlay("ops/migration");
    test.expect(&["build"], 0);
    insta::assert_snapshot!("migration_tree", test.tree());

    let web = documents(&test.read("generated/web/dev/eu/manifests.yaml"));
    assert_eq!(
        kinds(&web),
        [
            "Namespace dev-web-eu",
            "ConfigMap web-env",
            "Job web-migrate",
            "ServiceAccount web",
            "Deployment web",
            "HorizontalPodAutoscaler web",
            "Ingress web",
            "NetworkPolicy default-deny-ingress",
            "NetworkPolicy web-allow-port",
            "PodDisruptionBudget web",
            "Service web",
        ]
    );
    let job = &web[2];
    let deployment = &web[4];
    // The same pod as the workload's, but for the command, probes and ports.
    let mut pod = deployment["spec"]["template"]["spec"].clone();
    let container = pod["containers"][0].as_object_mut().unwrap();
    for field in ["ports", "livenessProbe", "readinessProbe"] {
        container.remove(field).unwrap();
    }
    container.insert(
        "command".into(),
        job["spec"]["template"]["spec"]["containers"][0]["command"].clone(),
    );
    pod["restartPolicy"] = Value::from("Never");
    assert_eq!(job["spec"]["template"]["spec"], pod);
    // Hostile arguments are the service file's strings, one each.
    let service: Value = serde_norway::from_str(&test.read("catalog/services/web.yaml")).unwrap();
    let mut command = service["migration"]["command"].clone();
    command[2] = Value::from("1.10");
    assert_eq!(job["spec"]["template"]["spec"]["containers"][0]["command"], command);
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    let labels = &job["spec"]["template"]["metadata"]["labels"];
    for (key, _) in selector.as_object().unwrap() {
        assert!(labels.get(key).is_none(), "the Job's pods carry selector label {key}");
    }
    // The override sets only the timeout; the command comes from the service.
    let prod = documents(&test.read("generated/web/prod/eu/manifests.yaml"));
    assert_eq!(prod[2]["spec"]["activeDeadlineSeconds"], 300);
    assert_eq!(prod[2]["spec"]["template"]["spec"]["containers"][0]["command"], command);
}

#[test]
fn migration_with_an_empty_command() {
    rejected("migration-empty-command", "catalog/services/web.yaml:9:12:", "jobs");
}

#[test]
fn migration_with_a_bad_timeout() {
    rejected("migration-bad-timeout", "catalog/services/web.yaml:10:12:", "jobs");
}

#[test]
fn migration_with_an_unknown_key() {
    rejected("migration-unknown-key", "catalog/services/jobs.yaml:9:3:", "web");
}

#[test]
fn migration_without_a_command() {
    rejected("migration-no-command", "catalog/services/jobs.yaml:10:16:", "web");
}

#[test]
fn migration_on_a_cronjob() {
    rejected("migration-on-cronjob", "catalog/services/report.yaml:10:3:", "web");
}

#[test]
fn alerts_component_on_a_cronjob() {
    rejected("alerts-cronjob-component", "catalog/services/report.yaml:9:14:", "web");
}

#[test]
fn alerts_block_on_a_cronjob() {
    rejected("alerts-cronjob-block", "catalog/services/report.yaml:10:3:", "web");
}

#[test]
fn alerts_block_without_the_component() {
    rejected("alerts-without-component", "catalog/services/web.yaml:9:3:", "jobs");
}

#[test]
fn alerts_with_a_bad_for() {
    rejected("alerts-bad-for", "catalog/services/web.yaml:10:8:", "jobs");
}

#[test]
fn alerts_with_bad_thresholds() {
    rejected("alerts-bad-thresholds", "catalog/services/web.yaml:10:15:", "jobs");
}

#[test]
fn alerts_with_an_unknown_key() {
    rejected("alerts-unknown-key", "catalog/services/web.yaml:10:3:", "jobs");
}

#[test]
fn request_thresholds_on_a_worker() {
    rejected("alerts-worker-latency", "catalog/services/jobs.yaml:10:19:", "web");
}

/// The alerts of an api and a worker: three for the api (its replicas alert
/// reads the Rollouts controller where prod runs a canary), the replicas
/// alert only for the worker; severity from the environment's approval,
/// routing from the owners, thresholds layered key by key.
#[test]
fn alerts_on_api_and_worker() {
    let test = Test::fixture("basic").overlay("ops/alerts");
    test.expect(&["build"], 0);
    insta::assert_snapshot!("alerts_tree", test.tree());

    let rule = |path: &str| {
        documents(&test.read(path))
            .into_iter()
            .find(|d| d["kind"] == "PrometheusRule")
            .unwrap()
    };
    let alerts = |rule: &Value| -> Vec<String> {
        rule["spec"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let l = &r["labels"];
                format!(
                    "{} for {} severity {}",
                    r["alert"].as_str().unwrap(),
                    r["for"].as_str().unwrap(),
                    l["severity"].as_str().unwrap()
                )
            })
            .collect()
    };
    let web_prod = rule("generated/web/prod/eu/manifests.yaml");
    assert_eq!(
        alerts(&web_prod),
        [
            "HighErrorRate for 2m severity page",
            "HighLatencyP99 for 2m severity page",
            "ReplicasUnavailable for 2m severity page"
        ]
    );
    assert_eq!(
        alerts(&rule("generated/jobs/dev/eu/manifests.yaml")),
        ["ReplicasUnavailable for 10m severity ticket"]
    );
    // Hostile owners are the service file's strings, annotation values.
    let service: Value = serde_norway::from_str(&test.read("catalog/services/web.yaml")).unwrap();
    let annotations = &web_prod["spec"]["groups"][0]["rules"][0]["annotations"];
    assert_eq!(annotations["slack"], service["owners"]["slack"]);
    assert_eq!(annotations["oncall"], "NO");

    // explain shows each threshold and where it was set.
    let out = test.expect(&["explain", "web", "--env", "prod", "--region", "eu"], 0);
    let lines: String = out
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("alerts."))
        .map(|l| format!("{}\n", l.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    assert_eq!(
        lines,
        "alerts.error_rate 0.5 catalog/services/web.yaml:10 service\n\
         alerts.latency_p99_ms 250 catalog/services/web.yaml:11 service\n\
         alerts.for 2m catalog/services/web.yaml:14 overrides.prod\n\
         alerts.requests true derived\n"
    );
}

/// The alerts component is a shared input: a broken template writes nothing
/// and removes nothing.
#[test]
fn a_broken_alerts_template_fails_closed() {
    let test = Test::fixture("basic").overlay("ops/alerts");
    test.expect(&["build"], 0);
    let good = test.tree();
    test.edit(
        "components/alerts/prometheus-rule.yaml.j2",
        "{% endfor %}",
        "{% endfo %}",
    );
    let out = test.expect(&["build"], 2);
    assert!(
        out.stderr.contains("error: components/alerts/prometheus-rule.yaml.j2:"),
        "{}",
        out.stderr
    );
    assert!(test.tree() == good, "the committed tree changed:\n{}", out.stderr);
}
