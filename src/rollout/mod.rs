//! Progressive delivery (SPEC §4 "Rollout strategy"): the objects a rollout
//! derives from what the archetype rendered, built from the parsed objects,
//! never from text. `render` calls these on a target's decorated objects.
//!
//! - rolling: the Deployment's `strategy.rollingUpdate`;
//! - canary and blue-green: a `Rollout` with the Deployment's metadata,
//!   selector, replicas and pod template, replacing it; `<service>-canary`
//!   and `<service>-preview` Services copied from the archetype's Service;
//!   the autoscaler retargeted; an `AnalysisTemplate` from the thresholds.

pub mod queries;

use serde_json::{Map, Value, json};

use crate::resolve::{Analysis, Rollout};

pub const ROLLOUTS_API: &str = "argoproj.io/v1alpha1";
/// Argo CD's per-object sync options.
pub const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
/// On every Deployment a rollout may replace, and on every Rollout: when the
/// strategy switches, Argo CD deletes the old workload only after the new one
/// is healthy (see the README, "Switching a live service").
pub const PRUNE_LAST: &str = "PruneLast=true";

/// How the derived objects find each other in one target.
pub struct Routing {
    /// The archetype's Service, the stable one.
    pub service: Option<String>,
    /// Ingresses that route to the stable Service.
    pub ingresses: Vec<String>,
}

/// Sets `key` in the object's `metadata.annotations`.
pub fn annotate(object: &mut Value, key: &str, value: &str) {
    if let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.insert(key.to_string(), Value::from(value));
        sort_map(annotations);
    }
}

fn sort_map(map: &mut Map<String, Value>) {
    let mut entries: Vec<_> = std::mem::take(map).into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    map.extend(entries);
}

/// rolling: `max_surge` and `max_unavailable` into the Deployment's
/// `strategy.rollingUpdate` (an int stays an int, a percent a string).
pub fn set_rolling_update(deployment: &mut Value, rollout: &Rollout) {
    let mut rolling = Map::new();
    if let Some(surge) = &rollout.max_surge {
        rolling.insert("maxSurge".into(), json!(surge));
    }
    if let Some(unavailable) = &rollout.max_unavailable {
        rolling.insert("maxUnavailable".into(), json!(unavailable));
    }
    if rolling.is_empty() {
        return;
    }
    if let Some(spec) = deployment.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert(
            "strategy".into(),
            json!({ "type": "RollingUpdate", "rollingUpdate": rolling }),
        );
    }
}

/// The Rollout replacing `deployment`: the same metadata, selector, replica
/// count (none under an autoscaler) and pod template, with the rollout's
/// strategy instead of the Deployment's.
pub fn to_rollout(deployment: &Value, rollout: &Rollout, name: &str, routing: &Routing) -> Value {
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::from(ROLLOUTS_API));
    object.insert("kind".into(), Value::from("Rollout"));
    if let Some(metadata) = deployment.get("metadata") {
        object.insert("metadata".into(), metadata.clone());
    }
    let mut spec = Map::new();
    if let Some(Value::Object(from)) = deployment.get("spec") {
        for (key, value) in from.iter().filter(|(k, _)| *k != "strategy") {
            spec.insert(key.clone(), value.clone());
        }
    }
    let strategy = match rollout.strategy.as_str() {
        "blue-green" => json!({ "blueGreen": blue_green(rollout, name, routing) }),
        _ => json!({ "canary": canary(rollout, name, routing) }),
    };
    spec.insert("strategy".into(), strategy);
    if let Some(revisions) = rollout.rollback_window {
        spec.insert("rollbackWindow".into(), json!({ "revisions": revisions }));
    }
    object.insert("spec".into(), Value::Object(spec));
    Value::Object(object)
}

fn analysis_ref(name: &str) -> Value {
    json!({ "templates": [{ "templateName": name }] })
}

/// One `setWeight` per step, with a pause after each but the last: timed
/// when `pause` is set, else until a human promotes.
fn canary(rollout: &Rollout, name: &str, routing: &Routing) -> Map<String, Value> {
    let mut canary = Map::new();
    if let Some(service) = &routing.service {
        canary.insert("canaryService".into(), Value::from(format!("{service}-canary")));
        // Only traffic routing takes a stable Service: without it, the
        // archetype's Service keeps selecting every pod and traffic splits
        // by replica count.
        if !routing.ingresses.is_empty() {
            canary.insert("stableService".into(), Value::from(service.as_str()));
        }
    }
    if let Some(surge) = &rollout.max_surge {
        canary.insert("maxSurge".into(), json!(surge));
    }
    if let Some(unavailable) = &rollout.max_unavailable {
        canary.insert("maxUnavailable".into(), json!(unavailable));
    }
    let nginx = match routing.ingresses.as_slice() {
        [] => None,
        [one] => Some(json!({ "stableIngress": one })),
        several => Some(json!({ "stableIngresses": several })),
    };
    if let (Some(_), Some(nginx)) = (&routing.service, nginx) {
        canary.insert("trafficRouting".into(), json!({ "nginx": nginx }));
    }
    if rollout.analysis.is_some() {
        // In the background from the first step: `startingStep: 1` is the
        // pause after the first weight, once the canary takes traffic.
        let mut analysis = analysis_ref(name);
        analysis["startingStep"] = json!(1);
        canary.insert("analysis".into(), analysis);
    }
    let mut steps = Vec::new();
    for (i, weight) in rollout.steps.iter().enumerate() {
        steps.push(json!({ "setWeight": weight }));
        if i + 1 < rollout.steps.len() {
            steps.push(match &rollout.pause {
                Some(pause) => json!({ "pause": { "duration": pause } }),
                None => json!({ "pause": {} }),
            });
        }
    }
    canary.insert("steps".into(), Value::Array(steps));
    canary
}

fn blue_green(rollout: &Rollout, name: &str, routing: &Routing) -> Map<String, Value> {
    let mut blue_green = Map::new();
    if let Some(service) = &routing.service {
        blue_green.insert("activeService".into(), Value::from(service.as_str()));
        blue_green.insert("previewService".into(), Value::from(format!("{service}-preview")));
    }
    let auto = rollout.auto_promote.unwrap_or(true);
    blue_green.insert("autoPromotionEnabled".into(), Value::from(auto));
    if let (true, Some(seconds)) = (auto, rollout.pause_seconds) {
        blue_green.insert("autoPromotionSeconds".into(), Value::from(seconds));
    }
    if rollout.analysis.is_some() {
        blue_green.insert("prePromotionAnalysis".into(), analysis_ref(name));
    }
    blue_green
}

/// A Service beside `service` named `name` (`<service>-canary`,
/// `<service>-preview`): the same selector and ports, which Argo Rollouts
/// narrows to the canary or preview pods.
pub fn derived_service(service: &Value, name: &str) -> Value {
    let mut copy = service.clone();
    if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("name".into(), Value::from(name));
    }
    if let Some(spec) = copy.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    copy
}

/// Points an autoscaler of `workload` (a Deployment) at the Rollout that
/// replaces it; true when it did.
pub fn retarget_autoscaler(hpa: &mut Value, workload: &str) -> bool {
    let Some(target) = hpa.pointer_mut("/spec/scaleTargetRef").and_then(Value::as_object_mut) else {
        return false;
    };
    let is_workload = target.get("kind").and_then(Value::as_str) == Some("Deployment")
        && target.get("name").and_then(Value::as_str) == Some(workload);
    if is_workload {
        target.insert("apiVersion".into(), Value::from(ROLLOUTS_API));
        target.insert("kind".into(), Value::from("Rollout"));
    }
    is_workload
}

/// Measurements of a blue-green's pre-promotion analysis: it must end for
/// the promotion to go on.
pub const PRE_PROMOTION_COUNT: i64 = 5;

/// The AnalysisTemplate `name`: one Prometheus metric per threshold. An
/// empty or NaN result meets neither condition, which Argo Rollouts counts
/// as inconclusive: the rollout pauses, and it never passes.
pub fn analysis_template(name: &str, namespace: &str, analysis: &Analysis, blue_green: bool) -> Value {
    let window = format!("{}s", analysis.interval_seconds.max(120));
    let known = "len(result) > 0 && !isNaN(result[0])";
    let mut metrics = Vec::new();
    let mut metric = |metric_name: &str, query: String, good: String, bad: String| {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(metric_name));
        m.insert("interval".into(), Value::from(analysis.interval.as_str()));
        if blue_green {
            m.insert("count".into(), Value::from(PRE_PROMOTION_COUNT));
        }
        m.insert("failureLimit".into(), Value::from(analysis.failure_limit));
        m.insert("successCondition".into(), Value::from(format!("{known} && {good}")));
        m.insert("failureCondition".into(), Value::from(format!("{known} && {bad}")));
        m.insert(
            "provider".into(),
            json!({ "prometheus": { "address": analysis.prometheus, "query": query } }),
        );
        metrics.push(Value::Object(m));
    };
    if let Some(rate) = analysis.success_rate {
        metric(
            "success-rate",
            queries::success_rate_query(namespace, &window),
            format!("result[0] >= {rate}"),
            format!("result[0] < {rate}"),
        );
    }
    if let Some(ms) = analysis.latency_p99_ms {
        metric(
            "latency-p99",
            queries::latency_p99_ms_query(namespace, &window),
            format!("result[0] <= {ms}"),
            format!("result[0] > {ms}"),
        );
    }
    json!({
        "apiVersion": ROLLOUTS_API,
        "kind": "AnalysisTemplate",
        "metadata": { "name": name },
        "spec": { "metrics": metrics },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::rollout::IntOrPercent;

    fn rollout(strategy: &str) -> Rollout {
        Rollout {
            strategy: strategy.into(),
            max_unavailable: Some(IntOrPercent::Int(0)),
            max_surge: Some(IntOrPercent::Percent("25%".into())),
            steps: if strategy == "canary" {
                vec![5, 50, 100]
            } else {
                Vec::new()
            },
            pause: Some("5m".into()),
            pause_seconds: Some(300),
            auto_promote: (strategy == "blue-green").then_some(false),
            analysis: None,
            rollback_window: Some(3),
        }
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "a", "labels": { "x": "y" }, "annotations": {} },
            "spec": {
                "revisionHistoryLimit": 5,
                "selector": { "matchLabels": { "app": "a" } },
                "strategy": { "type": "Recreate" },
                "template": { "metadata": { "labels": { "app": "a" } }, "spec": { "containers": [] } },
            },
        })
    }

    #[test]
    fn a_rollout_keeps_the_deployments_metadata_selector_and_pod_template() {
        let routing = Routing {
            service: Some("a".into()),
            ingresses: vec!["a".into()],
        };
        let r = to_rollout(&deployment(), &rollout("canary"), "a", &routing);
        let d = deployment();
        assert_eq!(
            (r["apiVersion"].as_str(), r["kind"].as_str()),
            (Some(ROLLOUTS_API), Some("Rollout"))
        );
        for key in ["selector", "template", "revisionHistoryLimit"] {
            assert_eq!(r["spec"][key], d["spec"][key], "{key}");
        }
        assert_eq!(r["metadata"], d["metadata"]);
        assert_eq!(r["spec"]["rollbackWindow"], json!({ "revisions": 3 }));
        assert_eq!(
            r["spec"]["strategy"],
            json!({ "canary": {
                "canaryService": "a-canary",
                "stableService": "a",
                "maxSurge": "25%",
                "maxUnavailable": 0,
                "trafficRouting": { "nginx": { "stableIngress": "a" } },
                "steps": [
                    { "setWeight": 5 }, { "pause": { "duration": "5m" } },
                    { "setWeight": 50 }, { "pause": { "duration": "5m" } },
                    { "setWeight": 100 },
                ],
            } })
        );
    }

    #[test]
    fn without_an_ingress_a_canary_splits_by_replicas_and_keeps_the_service_whole() {
        let mut spec = rollout("canary");
        spec.pause = None;
        let routing = Routing {
            service: Some("a".into()),
            ingresses: Vec::new(),
        };
        let canary = &to_rollout(&deployment(), &spec, "a", &routing)["spec"]["strategy"]["canary"];
        assert_eq!(canary["canaryService"], "a-canary");
        assert!(canary.get("stableService").is_none() && canary.get("trafficRouting").is_none());
        assert_eq!(canary["steps"][1], json!({ "pause": {} }));
    }

    #[test]
    fn blue_green_promotes_as_auto_promote_says() {
        let routing = Routing {
            service: Some("a".into()),
            ingresses: Vec::new(),
        };
        let manual = to_rollout(&deployment(), &rollout("blue-green"), "a", &routing);
        assert_eq!(
            manual["spec"]["strategy"],
            json!({ "blueGreen": { "activeService": "a", "previewService": "a-preview", "autoPromotionEnabled": false } })
        );
        let mut auto = rollout("blue-green");
        auto.auto_promote = Some(true);
        let auto = to_rollout(&deployment(), &auto, "a", &routing);
        assert_eq!(auto["spec"]["strategy"]["blueGreen"]["autoPromotionSeconds"], 300);
    }

    #[test]
    fn rolling_sets_the_update_and_an_autoscaler_follows_the_rollout() {
        let mut d = deployment();
        set_rolling_update(&mut d, &rollout("rolling"));
        assert_eq!(
            d["spec"]["strategy"],
            json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": 0 } })
        );
        let mut hpa =
            json!({ "spec": { "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "a" } } });
        assert!(!retarget_autoscaler(&mut hpa.clone(), "b"));
        assert!(retarget_autoscaler(&mut hpa, "a"));
        assert_eq!(
            hpa["spec"]["scaleTargetRef"],
            json!({ "apiVersion": ROLLOUTS_API, "kind": "Rollout", "name": "a" })
        );
    }

    #[test]
    fn no_result_meets_neither_condition() {
        let analysis = Analysis {
            success_rate: Some(99.5),
            latency_p99_ms: None,
            interval: "1m".into(),
            interval_seconds: 60,
            failure_limit: 1,
            prometheus: "http://p".into(),
        };
        let t = analysis_template("a", "dev-a-eu", &analysis, false);
        let metric = &t["spec"]["metrics"][0];
        assert_eq!(
            metric["successCondition"],
            "len(result) > 0 && !isNaN(result[0]) && result[0] >= 99.5"
        );
        assert_eq!(
            metric["failureCondition"],
            "len(result) > 0 && !isNaN(result[0]) && result[0] < 99.5"
        );
        assert!(metric.get("count").is_none());
        assert_eq!(
            metric["provider"]["prometheus"]["query"],
            queries::success_rate_query("dev-a-eu", "120s")
        );
        let blue_green = analysis_template("a", "dev-a-eu", &analysis, true);
        assert_eq!(blue_green["spec"]["metrics"][0]["count"], PRE_PROMOTION_COUNT);
    }
}
