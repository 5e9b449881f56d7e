//! The flagd flag-definition document of a target's feature flags (SPEC §4),
//! built as a JSON value, never as text: every key and description is a
//! JSON string whatever it holds.
//!
//! Each flag is boolean with the variants `on` and `off`. Targeting, as
//! flagd evaluates it (checked against flagd v0.16.1, `fractional.go`):
//! - `fractional` buckets a context by murmur3 of the flag key and its
//!   `targetingKey` into `[0, total weight)` and takes the first variant
//!   whose running weight passes the bucket. The variants go `on` first, so
//!   a bucket that is `on` at N percent stays `on` at every M > N, and a
//!   context without a `targetingKey` makes it return null: the default
//!   variant, `off`.
//! - teams: `{"in": [{"var": "team"}, [...]]}` in an `if` ahead of the
//!   percentage, so a listed team gets `on` whatever the percentage.
//! - `enabled: false`: `off` for every context (the flag stays `ENABLED`
//!   in flagd's sense, so SDKs get `off`, not "flag not found").

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::resolve::Flag;

/// The schema editors and validators read the document against.
pub const SCHEMA: &str = "https://flagd.dev/schema/v0/flags.json";

/// The document, keys in a fixed order (flags by key).
pub fn document(flags: &BTreeMap<String, Flag>) -> Value {
    let definitions: Map<String, Value> = flags
        .iter()
        .map(|(key, flag)| (key.clone(), definition(flag)))
        .collect();
    json!({ "$schema": SCHEMA, "flags": definitions })
}

/// The document as the text of `flags.json`: indented, so a change reads
/// as a change of the lines it touches; `None` for no flags.
pub fn document_text(flags: &BTreeMap<String, Flag>) -> Option<String> {
    if flags.is_empty() {
        return None;
    }
    let mut text = serde_json::to_string_pretty(&document(flags)).expect("a JSON value serializes");
    text.push('\n');
    Some(text)
}

fn definition(flag: &Flag) -> Value {
    let everyone = flag.enabled && flag.rollout_percentage == 100;
    let mut definition = Map::new();
    definition.insert("state".into(), Value::from("ENABLED"));
    definition.insert("variants".into(), json!({ "on": true, "off": false }));
    definition.insert(
        "defaultVariant".into(),
        Value::from(if everyone { "on" } else { "off" }),
    );
    if let Some(targeting) = targeting(flag) {
        definition.insert("targeting".into(), targeting);
    }
    if let Some(description) = &flag.description {
        definition.insert("metadata".into(), json!({ "description": description }));
    }
    Value::Object(definition)
}

/// The rule for an enabled flag below 100 percent; `None` where the
/// default variant is the answer for everyone.
fn targeting(flag: &Flag) -> Option<Value> {
    let p = flag.rollout_percentage;
    if !flag.enabled || p == 100 {
        return None;
    }
    let share = (p > 0).then(|| json!({ "fractional": [["on", p], ["off", 100 - p]] }));
    if flag.teams.is_empty() {
        return share;
    }
    let team = json!({ "in": [{ "var": "team" }, flag.teams] });
    Some(json!({ "if": [team, "on", share.unwrap_or_else(|| Value::from("off"))] }))
}

/// Whether an object's pod template mounts the ConfigMap `config_map`:
/// the pod spec of a workload, a CronJob's job template, or a Rollout's.
pub fn mounts(object: &Value, config_map: &str) -> bool {
    let spec = &object["spec"];
    [
        &spec["template"]["spec"],
        &spec["jobTemplate"]["spec"]["template"]["spec"],
    ]
    .iter()
    .filter_map(|pod| pod["volumes"].as_array())
    .flatten()
    .any(|volume| volume["configMap"]["name"] == config_map)
}

/// A flag without a description, for tests.
#[cfg(test)]
pub(crate) fn flag(enabled: bool, rollout_percentage: i64, teams: &[&str]) -> Flag {
    Flag {
        description: None,
        enabled,
        rollout_percentage,
        teams: teams.iter().map(|t| t.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_has_its_rule() {
        let cases = [
            (flag(true, 100, &["x"]), json!(null), "on"),
            (flag(false, 100, &["x"]), json!(null), "off"),
            (flag(true, 0, &[]), json!(null), "off"),
            (
                flag(true, 0, &["x"]),
                json!({"if": [{"in": [{"var": "team"}, ["x"]]}, "on", "off"]}),
                "off",
            ),
            (
                flag(true, 25, &[]),
                json!({"fractional": [["on", 25], ["off", 75]]}),
                "off",
            ),
            (
                flag(true, 25, &["x"]),
                json!({"if": [{"in": [{"var": "team"}, ["x"]]}, "on", {"fractional": [["on", 25], ["off", 75]]}]}),
                "off",
            ),
        ];
        for (flag, rule, default) in cases {
            let d = definition(&flag);
            assert_eq!(d.get("targeting").cloned().unwrap_or(Value::Null), rule, "{flag:?}");
            assert_eq!(d["defaultVariant"], default, "{flag:?}");
        }
    }

    #[test]
    fn a_mount_is_found_in_a_workload_or_a_cronjob() {
        let volumes = json!([{ "name": "flags", "configMap": { "name": "s-flags" } }]);
        let deployment = json!({ "spec": { "template": { "spec": { "volumes": volumes } } } });
        let cronjob =
            json!({ "spec": { "jobTemplate": { "spec": { "template": { "spec": { "volumes": volumes } } } } } });
        assert!(mounts(&deployment, "s-flags"));
        assert!(mounts(&cronjob, "s-flags"));
        assert!(!mounts(&deployment, "t-flags"));
        assert!(!mounts(&json!({ "data": {} }), "s-flags"));
    }

    /// Every shape a flag can take validates against flagd's schema.
    #[test]
    fn every_shape_is_valid_flagd() {
        let mut flags = BTreeMap::new();
        for percentage in 0..=100 {
            for (enabled, teams) in [(true, &[][..]), (true, &["t", "a\n\"b"][..]), (false, &["t"][..])] {
                let key = format!("f{percentage}-{enabled}-{}", teams.len());
                flags.insert(key, flag(enabled, percentage, teams));
            }
        }
        let document = document(&flags);
        assert_eq!(stamp_kube::flagd::validate(&document), Vec::new());
    }

    #[test]
    fn no_flags_no_document() {
        assert_eq!(document_text(&BTreeMap::new()), None);
    }
}
