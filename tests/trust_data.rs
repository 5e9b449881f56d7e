//! A service file is data: hostile values stay values, targets hold only the
//! objects their blueprints declare, pods roll on env changes, and templates
//! and declarations are bounded.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::Value;
use stamp::compile::{Parsed, parse_and_resolve};
use stamp::load::Sources;
use stamp::render::render_target;
use stamp::resolve::{Provenance, Target};

use crate::test::Test;

/// Builds a good tree, applies `change`, and expects `build` to exit 2 with
/// an error at `location`, leaving every committed file as it was.
fn refused(test: &Test, change: impl FnOnce(&Test), location: &str) -> String {
    test.expect(&["build"], 0);
    let before = test.tree();
    change(test);
    let out = test.expect(&["build"], 2);
    assert!(
        out.stderr.contains(&format!("error: {location}")),
        "expected an error at {location}, got:\n{}",
        out.stderr
    );
    assert_eq!(test.tree(), before, "the committed tree changed");
    out.stderr
}

/// The attack: a cronjob param that tries to add a privileged
/// ClusterRoleBinding stays one string of the CronJob.
#[test]
fn cronjob_param_injection_stays_a_value() {
    let test = Test::fixture("basic").overlay("trust/data/cronjob-injection");
    test.expect(&["build"], 0);
    let manifests = test.read("generated/report/prod/eu/manifests.yaml");
    let documents: Vec<Value> = manifests
        .split("\n---\n")
        .skip(1)
        // The split takes each document's last line break with it.
        .map(|d| serde_norway::from_str(&format!("{d}\n")).unwrap())
        .collect();
    let kinds: Vec<&str> = documents.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Namespace", "ServiceAccount", "CronJob"]);
    let service = test.read("catalog/services/report.yaml");
    let hostile: BTreeMap<String, Value> = serde_norway::from_str::<Value>(&service).unwrap()["params"]
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect();
    assert_eq!(
        documents[2]["spec"]["concurrencyPolicy"], hostile["concurrency_policy"],
        "{manifests}"
    );
    assert_eq!(documents[2]["spec"]["timeZone"], hostile["time_zone"], "{manifests}");
}

/// A platform template that writes an object it does not declare fails the
/// target, naming the template line and the service file.
#[test]
fn undeclared_object_fails_naming_template_and_service() {
    let test = Test::fixture("basic");
    let stderr = refused(
        &test,
        |t| {
            let template = "archetypes/cronjob/cronjob.yaml.j2";
            let text = t.read(template);
            t.write(
                template,
                &format!(
                    "{text}---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{{{ service ~ \"-extra\" }}}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: x\n          image: x\n"
                ),
            );
        },
        "archetypes/cronjob/cronjob.yaml.j2:",
    );
    assert!(
        stderr.contains("`Job` `report-extra`, which it does not declare"),
        "{stderr}"
    );
    assert!(stderr.contains("`catalog/services/report.yaml`"), "{stderr}");
    assert!(stderr.contains("`archetypes/cronjob/archetype.kdl`"), "{stderr}");
}

#[test]
fn cluster_scoped_objects_and_foreign_namespaces_are_refused() {
    let test = Test::fixture("basic");
    let stderr = refused(
        &test,
        |t| {
            t.edit(
                "components/namespace/namespace.yaml.j2",
                "{{ namespace }}",
                "kube-system",
            )
        },
        "components/namespace/namespace.yaml.j2:2:1:",
    );
    assert!(
        stderr.contains("cluster-scoped `Namespace` `kube-system`: the only cluster-scoped object"),
        "{stderr}"
    );
    let test = Test::fixture("basic");
    let stderr = refused(
        &test,
        |t| {
            t.edit(
                "components/service-account/service-account.yaml.j2",
                "  name: {{ service }}\n",
                "  name: {{ service }}\n  namespace: kube-system\n",
            )
        },
        "components/service-account/service-account.yaml.j2:",
    );
    assert!(stderr.contains("sets namespace \"kube-system\""), "{stderr}");
}

#[test]
fn a_value_outside_quotes_is_a_template_error_at_its_line() {
    let test = Test::fixture("basic");
    let stderr = refused(
        &test,
        |t| {
            t.edit(
                "components/ingress/ingress.yaml.j2",
                "{{ service ~ \"-tls\" }}",
                "{{ service }}-tls",
            )
        },
        "components/ingress/ingress.yaml.j2:11:7:",
    );
    assert!(stderr.contains("the template rendered invalid YAML"), "{stderr}");
}

/// One duplicated template line is one error for every target, not one per
/// target (output line numbers differ between targets).
#[test]
fn a_duplicated_template_line_is_one_error() {
    let test = Test::fixture("basic");
    let stderr = refused(
        &test,
        |t| {
            t.edit(
                "archetypes/api/deployment.yaml.j2",
                "  revisionHistoryLimit: 5\n",
                "  revisionHistoryLimit: 5\n  revisionHistoryLimit: 5\n",
            )
        },
        "archetypes/api/deployment.yaml.j2:13:3: the template rendered invalid YAML: duplicate key `revisionHistoryLimit`",
    );
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("(targets `web/dev/eu`, `web/prod/eu` and 1 more)"),
        "{stderr}"
    );
}

#[test]
fn safe_is_not_a_filter() {
    let test = Test::fixture("basic");
    refused(
        &test,
        |t| {
            t.edit(
                "archetypes/cronjob/cronjob.yaml.j2",
                "{{ schedule }}",
                "{{ schedule|safe }}",
            )
        },
        "archetypes/cronjob/cronjob.yaml.j2:9:",
    );
}

#[test]
fn applies_to_an_unknown_archetype_is_an_error_at_its_line() {
    let test = Test::fixture("basic");
    let stderr = refused(
        &test,
        |t| {
            t.edit(
                "components/service-monitor/component.kdl",
                "applies-to \"api\"",
                "applies-to \"apj\"",
            )
        },
        "components/service-monitor/component.kdl:4:1: `applies-to` names archetype `apj`",
    );
    assert!(stderr.contains("did you mean `api`?"), "{stderr}");
    assert!(!stderr.contains("profiles.yaml"), "{stderr}");
}

#[test]
fn a_runaway_template_runs_out_of_fuel() {
    let test = Test::fixture("basic");
    let stderr = refused(
        &test,
        |t| {
            t.write(
                "archetypes/cronjob/cronjob.yaml.j2",
                &format!(
                    "{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}\n{}",
                    t.read("archetypes/cronjob/cronjob.yaml.j2")
                ),
            );
        },
        "archetypes/cronjob/cronjob.yaml.j2:1:1: engine ran out of fuel",
    );
    assert!(stderr.contains("instructions per render"), "{stderr}");
}

#[test]
fn template_output_is_bounded() {
    let test = Test::fixture("basic");
    refused(
        &test,
        |t| {
            t.write(
                "archetypes/cronjob/cronjob.yaml.j2",
                &format!(
                    "{}# {{% for i in range(20000) %}}{{{{ \"x\" * 1000 }}}}{{% endfor %}}\n",
                    t.read("archetypes/cronjob/cronjob.yaml.j2")
                ),
            );
        },
        "archetypes/cronjob/cronjob.yaml.j2:1:1: the template rendered more than 8 MiB",
    );
}

#[test]
fn deeply_nested_kdl_is_an_error_not_a_crash() {
    let test = Test::fixture("basic");
    refused(
        &test,
        |t| {
            let nested = format!("{}{}\n", "node {".repeat(5000), "}".repeat(5000));
            let text = t.read("components/service-monitor/component.kdl");
            t.write("components/service-monitor/component.kdl", &format!("{text}{nested}"));
        },
        "components/service-monitor/component.kdl:8:",
    );
}

#[test]
fn a_template_must_declare_its_objects() {
    let test = Test::fixture("basic");
    refused(
        &test,
        |t| {
            t.edit(
                "components/service-monitor/component.kdl",
                "template \"service-monitor.yaml.j2\" kind=\"ServiceMonitor\"",
                "template \"service-monitor.yaml.j2\"",
            )
        },
        "components/service-monitor/component.kdl:7:1: template `components/service-monitor/service-monitor.yaml.j2` declares no objects",
    );
}

/// Changing one env value changes the pod template, so the pods roll; a
/// target without env has no annotation.
#[test]
fn pods_roll_when_env_changes() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let annotation = |path: &str| {
        let text = test.read(path);
        text.lines()
            .find(|l| l.contains("stamp.dev/config-hash:"))
            .map(|l| l.trim().to_string())
    };
    let before = annotation("generated/web/dev/eu/manifests.yaml").expect("web has env");
    assert_eq!(annotation("generated/jobs/dev/eu/manifests.yaml"), None);
    test.edit(
        "catalog/services/web.yaml",
        "FEATURE_FLAG: \"NO\"",
        "FEATURE_FLAG: \"NOPE\"",
    );
    test.expect(&["build"], 0);
    let after = annotation("generated/web/dev/eu/manifests.yaml").unwrap();
    assert_ne!(before, after);
    // The hash sits in the pod template, beside the pod labels.
    let manifests = test.read("generated/web/dev/eu/manifests.yaml");
    assert!(
        manifests.contains(&format!(
            "  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: web\n        app.kubernetes.io/version: \"1.0.0\"\n      annotations:\n        {after}\n"
        )),
        "{manifests}"
    );
    test.edit(
        "catalog/services/jobs.yaml",
        "  tag: \"2.1.0\"\n",
        "  tag: \"2.1.0\"\nenv: { A: b }\n",
    );
    test.expect(&["build"], 0);
    assert!(annotation("generated/jobs/dev/eu/manifests.yaml").is_some());
}

// --- the property test -----------------------------------------------------

/// Pieces that mean something to YAML, to minijinja or to a reader.
const HOSTILE: &[&str] = &[
    "\n",
    "\r\n",
    "---",
    "...",
    ": ",
    ":",
    "{",
    "}",
    "[",
    "]",
    "#",
    " #",
    "\"",
    "'",
    "{{ service }}",
    "{% if x %}",
    "{#",
    "|",
    ">",
    "- ",
    "? ",
    "&a",
    "*a",
    "!!binary ",
    "!",
    "%YAML 1.1",
    "@",
    "`",
    "\t",
    "\\",
    "\\n",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\u{feff}",
    "\u{0}",
    "\u{7f}",
    "é",
    "😀",
    "NO",
    "on",
    "0755",
    "1e3",
    "~",
    "null",
    "true",
    " ",
    "kind: ClusterRoleBinding",
    "\nnamespace: kube-system",
    "\n---\nkind: Namespace\n",
];

fn hostile_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(HOSTILE).prop_map(String::from),
            1 => "\\PC{0,6}",
            1 => any::<String>().prop_map(|s| s.chars().take(6).collect()),
        ],
        0..6,
    )
    .prop_map(|pieces| pieces.concat())
}

/// The basic fixture plus a service with every built-in component, resolved
/// once: one target per archetype to throw hostile values at.
fn targets() -> &'static (Sources, Parsed, Vec<Target>) {
    static CELL: std::sync::OnceLock<(Sources, Parsed, Vec<Target>)> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        let test = Test::fixture("basic");
        test.write(
            "catalog/services/mon.yaml",
            "name: mon\nprofile: public-api\nsize: small\nenvironments: [dev]\nimage: { repository: r, tag: t }\ncomponents: [service-monitor]\nowners: { team: team-a }\n",
        );
        let sources = Sources::from_dir(test.path()).unwrap();
        let parsed = parse_and_resolve(&sources, Provenance::Skip, &|_| false);
        assert!(parsed.diags.is_empty(), "{:?}", parsed.diags);
        let mut picked = Vec::new();
        for id in ["mon/dev/eu", "jobs/dev/eu", "report/prod/eu"] {
            picked.push(parsed.resolved.targets.iter().find(|t| t.id() == id).unwrap().clone());
        }
        (sources, parsed, picked)
    })
}

#[derive(Debug, Clone)]
struct Hostile {
    strings: Vec<String>,
    env: BTreeMap<String, String>,
}

fn hostile() -> impl Strategy<Value = Hostile> {
    (
        prop::collection::vec(hostile_string(), 16),
        prop::collection::btree_map(hostile_string(), hostile_string(), 0..4),
    )
        .prop_map(|(strings, env)| Hostile { strings, env })
}

/// Puts hostile strings in every string a template sees from a service
/// file (past catalog validation, which would refuse many of them).
fn poison(target: &Target, h: &Hostile) -> Target {
    let mut t = target.clone();
    let mut next = h.strings.iter().cycle().cloned();
    let mut s = || next.next().unwrap();
    let v = std::sync::Arc::make_mut(&mut t.values);
    v.image.repository = s();
    v.image.tag = s();
    v.image.reference = format!("{}:{}", v.image.repository, v.image.tag);
    if v.schedule.is_some() {
        v.schedule = Some(s());
    }
    v.owners.slack = Some(s());
    v.owners.oncall = Some(s());
    v.owners.team = s();
    v.env = h.env.clone();
    for value in v.params.values_mut() {
        if value.is_string() {
            *value = Value::from(s());
        }
    }
    t
}

/// Every (kind, name) the target may hold.
fn expected(t: &Target) -> BTreeSet<(String, String)> {
    let svc = &t.service;
    let mut set: BTreeSet<(String, String)> = [
        ("Namespace", t.values.namespace.clone()),
        ("ServiceAccount", svc.clone()),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    let mut add = |k: &str, n: String| set.insert((k.to_string(), n));
    match t.archetype.as_str() {
        "cronjob" => add("CronJob", svc.clone()),
        "api" => {
            add("Deployment", svc.clone());
            add("Service", svc.clone())
        }
        _ => add("Deployment", svc.clone()),
    };
    for c in &t.components {
        match c.as_str() {
            "hpa" => add("HorizontalPodAutoscaler", svc.clone()),
            "pdb" => add("PodDisruptionBudget", svc.clone()),
            "ingress" => add("Ingress", svc.clone()),
            "service-monitor" => add("ServiceMonitor", svc.clone()),
            "network-policy" => {
                add("NetworkPolicy", "default-deny-ingress".into());
                add("NetworkPolicy", format!("{svc}-allow-port"))
            }
            _ => false,
        };
    }
    if !t.values.env.is_empty() {
        add("ConfigMap", format!("{svc}-env"));
    }
    set
}

fn check_target(target: &Target, h: &Hostile) -> Result<(), TestCaseError> {
    let (sources, parsed, _) = targets();
    let t = poison(target, h);
    let objects = match render_target(&parsed.blueprints, sources, &t) {
        Ok(objects) => objects,
        Err(diags) => {
            // Refusing is allowed, silently is not.
            prop_assert!(!diags.is_empty());
            return Ok(());
        }
    };
    let got: BTreeSet<(String, String)> = objects
        .iter()
        .map(|o| (o.kind().to_string(), o.name().to_string()))
        .collect();
    prop_assert_eq!(got.len(), objects.len(), "an object twice");
    prop_assert_eq!(&got, &expected(&t));
    // What is written reads back as the same objects.
    let manifests = stamp::emit::manifests(&t, &objects);
    let back: Vec<Value> = manifests
        .split("\n---\n")
        .skip(1)
        // The split takes each document's last line break with it.
        .map(|d| serde_norway::from_str(&format!("{d}\n")).unwrap())
        .collect();
    prop_assert_eq!(back.len(), objects.len());
    for (object, read) in objects.iter().zip(&back) {
        prop_assert_eq!(&object.value, read);
    }
    // Each hostile value arrives as the same string.
    let find = |kind: &str| objects.iter().find(|o| o.kind() == kind).map(|o| &o.value);
    let v = &t.values;
    let containers = |o: &Value| o.pointer("/spec/template/spec/containers/0/image").cloned();
    match t.archetype.as_str() {
        "cronjob" => {
            let cron = find("CronJob").unwrap();
            prop_assert_eq!(&cron["spec"]["schedule"], &Value::from(v.schedule.clone().unwrap()));
            prop_assert_eq!(&cron["spec"]["concurrencyPolicy"], &v.params["concurrency_policy"]);
            prop_assert_eq!(&cron["spec"]["timeZone"], &v.params["time_zone"]);
            prop_assert_eq!(
                cron.pointer("/spec/jobTemplate/spec/template/spec/containers/0/image"),
                Some(&Value::from(v.image.reference.clone()))
            );
        }
        _ => {
            let deployment = find("Deployment").unwrap();
            prop_assert_eq!(containers(deployment), Some(Value::from(v.image.reference.clone())));
        }
    }
    if t.archetype == "api" {
        let deployment = find("Deployment").unwrap();
        prop_assert_eq!(
            deployment.pointer("/spec/template/spec/containers/0/livenessProbe/httpGet/path"),
            Some(&v.params["liveness_path"])
        );
        let monitor = find("ServiceMonitor").unwrap();
        prop_assert_eq!(
            monitor.pointer("/spec/endpoints/0/path"),
            Some(&v.params["metrics_path"])
        );
        prop_assert_eq!(
            monitor.pointer("/spec/endpoints/0/interval"),
            Some(&v.params["scrape_interval"])
        );
        let ingress = find("Ingress").unwrap();
        prop_assert_eq!(
            ingress.pointer("/spec/ingressClassName"),
            Some(&v.params["ingress_class"])
        );
        let host = format!(
            "{}.{}.{}.{}",
            t.service,
            t.region,
            t.env,
            v.params["ingress_domain"].as_str().unwrap()
        );
        prop_assert_eq!(ingress.pointer("/spec/rules/0/host"), Some(&Value::from(host)));
    }
    let namespace = find("Namespace").unwrap();
    prop_assert_eq!(
        namespace.pointer("/metadata/labels/stamp.dev~1team"),
        Some(&Value::from(v.owners.team.clone()))
    );
    if !v.env.is_empty() {
        let data: BTreeMap<String, String> =
            serde_json::from_value(find("ConfigMap").unwrap()["data"].clone()).unwrap();
        prop_assert_eq!(&data, &v.env);
    }
    Ok(())
}

proptest! {
    // Small by default so CI stays fast; `PROPTEST_CASES=100000` for a long run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_values_stay_values(h in hostile()) {
        for target in &targets().2 {
            check_target(target, &h)?;
        }
    }
}

/// Cases the property test once found, kept as regressions.
#[test]
fn hostile_regressions() {
    let cases: &[&[&str]] = &[
        &["Forbid\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"],
        &["a\u{2028}b", "\u{85}", "\u{feff}x"],
        &["{{ service }}", "{% if true %}x{% endif %}", "x: y", "- z", "#c"],
        &["NO", "0755", "~", "", " lead", "trail ", "\"q\"", "'s'", "\\"],
        // Found by the property test: a multi-line env key was written as a
        // block scalar key, and U+2028 unescaped in a double-quoted string.
        &["a\nb", "- \u{2028}", "x\u{2029}\n"],
        // A tab opening a line of a literal block is refused by YAML 1.1 readers.
        &["a\n\tb", "x\n\t\n"],
    ];
    for strings in cases {
        let strings: Vec<String> = strings.iter().map(|s| s.to_string()).collect();
        let env = strings.iter().map(|s| (s.clone(), s.clone())).collect();
        let h = Hostile { strings, env };
        for target in &targets().2 {
            check_target(target, &h).unwrap();
        }
    }
}
