//! The `rollout` block of one environment: each key from the last layer that
//! sets it (profile defaults → service → `overrides.<env>`, the `analysis`
//! map merging key by key too), checked against the strategy, the archetype
//! and the environment.

use serde::Serialize;

use crate::blueprint::Blueprint;
use crate::catalog::reader::Spanned;
use crate::catalog::rollout::{IntOrPercent, RolloutLayer, both_zero};
use crate::catalog::{Approval, Environment};
use crate::diagnostic::{Diagnostic, Pos};
use crate::resolve::provenance::{Origin, Origins};

/// Canary weights when a canary sets no `steps`.
pub const DEFAULT_STEPS: [i64; 3] = [25, 50, 100];
/// How often analysis measures when `interval` is not set.
pub const DEFAULT_INTERVAL: &str = "1m";
/// Failed measurements analysis tolerates before it aborts, when not set.
pub const DEFAULT_FAILURE_LIMIT: i64 = 1;

/// The resolved rollout of a target, as templates and `explain` see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rollout {
    /// `rolling`, `canary` or `blue-green`.
    pub strategy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrPercent>,
    /// Canary weights; empty for other strategies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause: Option<String>,
    #[serde(skip)]
    pub pause_seconds: Option<i64>,
    /// blue-green only: promote without a human.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_promote: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_window: Option<i64>,
}

impl Rollout {
    /// Whether a Rollout replaces the archetype's Deployment.
    pub fn replaces_workload(&self) -> bool {
        self.strategy != "rolling"
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<i64>,
    pub interval: String,
    #[serde(skip)]
    pub interval_seconds: i64,
    pub failure_limit: i64,
    /// The environment's Prometheus address.
    pub prometheus: String,
}

/// One layer's block, where it is written and how `explain` names it.
pub(crate) struct RolloutLevel<'a> {
    pub(crate) file: &'a str,
    pub(crate) name: &'a str,
    pub(crate) layer: &'a RolloutLayer,
}

/// Where a key is set: its position and file.
type SetAt<'a> = (Pos, &'a str);

/// What the checks need besides the layers.
pub(crate) struct Context<'a> {
    pub(crate) service_file: &'a str,
    pub(crate) archetype: &'a Blueprint,
    pub(crate) env: &'a Environment,
}

/// The last level's value of one key, with where it is written; its origin
/// is noted under `rollout.<key>`.
fn last<'a, T: Clone + 'a>(
    levels: &[RolloutLevel<'a>],
    key: &str,
    field: impl Fn(&'a RolloutLayer) -> Option<&'a Spanned<T>>,
    origins: &mut Origins,
) -> Option<(T, Pos, &'a str)> {
    let (level, value) = levels.iter().rev().find_map(|l| field(l.layer).map(|v| (l, v)))?;
    origins.note(format_args!("rollout.{key}"), || {
        Origin::new(level.file, value.pos, level.name)
    });
    Some((value.value.clone(), value.pos, level.file))
}

/// The rollout of one environment's targets; `None` when no layer writes a
/// `rollout` block (the output is then exactly as before the feature), or
/// when a problem was reported.
pub(crate) fn resolve(
    cx: &Context,
    levels: &[RolloutLevel],
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> Option<Rollout> {
    let block = levels.last()?;
    let before = diags.len();
    let at = |file: &str, pos: Pos, message: String| Diagnostic::new(file, pos, message);
    let (strategy, strategy_pos, strategy_file) = last(levels, "strategy", |l| l.strategy.as_ref(), origins)
        .unwrap_or(("rolling".to_string(), block.layer.pos, block.file));
    let archetype = cx.archetype;
    if archetype.rollout_workload.is_none() {
        diags.push(
            at(
                strategy_file,
                strategy_pos,
                format!(
                    "archetype `{}` takes no `rollout` block: none of its templates declares the workload a rollout replaces",
                    archetype.name
                ),
            )
            .with_hint(format!(
                "remove `rollout`; a platform archetype opts in with `rollout=#true` on its Deployment's template in `{}`",
                archetype.decl_file
            )),
        );
        return None;
    }
    if strategy == "blue-green" && !archetype.objects.iter().any(|d| d.kind == "Service") {
        diags.push(
            at(
                strategy_file,
                strategy_pos,
                format!(
                    "blue-green needs a Service, and archetype `{}` has none",
                    archetype.name
                ),
            )
            .with_hint("use `strategy: canary`, which splits traffic by replica count without a Service"),
        );
    }
    let max_unavailable = last(levels, "max_unavailable", |l| l.max_unavailable.as_ref(), origins);
    let max_surge = last(levels, "max_surge", |l| l.max_surge.as_ref(), origins);
    if let (Some(u), Some((s, pos, file))) = (&max_unavailable, &max_surge)
        && u.0.is_zero()
        && s.is_zero()
    {
        diags.push(both_zero(file, *pos));
    }
    let steps = last(levels, "steps", |l| l.steps.as_ref(), origins);
    let pause = last(levels, "pause", |l| l.pause.as_ref(), origins);
    let auto_promote = last(levels, "auto_promote", |l| l.auto_promote.as_ref(), origins);
    let rollback_window = last(levels, "rollback_window", |l| l.rollback_window.as_ref(), origins);
    // A key the strategy does not use is a mistake, never silently ignored.
    let progressive: &[&str] = &["canary", "blue-green"];
    let unused: [(&str, Option<SetAt>, &[&str]); 6] = [
        (
            "max_unavailable",
            max_unavailable.as_ref().map(|v| (v.1, v.2)),
            &["rolling", "canary"],
        ),
        (
            "max_surge",
            max_surge.as_ref().map(|v| (v.1, v.2)),
            &["rolling", "canary"],
        ),
        ("steps", steps.as_ref().map(|v| (v.1, v.2)), &["canary"]),
        ("pause", pause.as_ref().map(|v| (v.1, v.2)), progressive),
        (
            "auto_promote",
            auto_promote.as_ref().map(|v| (v.1, v.2)),
            &["blue-green"],
        ),
        (
            "rollback_window",
            rollback_window.as_ref().map(|v| (v.1, v.2)),
            progressive,
        ),
    ];
    for (key, set, strategies) in unused {
        if let Some((pos, file)) = set
            && !strategies.contains(&strategy.as_str())
        {
            diags.push(at(
                file,
                pos,
                format!(
                    "rollout.{key} is for {}, and the strategy here is {strategy}",
                    strategies.join(" and ")
                ),
            ));
        }
    }
    let analysis = analysis(cx, levels, &strategy, origins, diags);
    if diags.len() > before {
        return None;
    }
    let canary = strategy == "canary";
    let blue_green = strategy == "blue-green";
    Some(Rollout {
        max_unavailable: max_unavailable.map(|v| v.0),
        max_surge: max_surge.map(|v| v.0),
        steps: match steps {
            Some(s) => s.0,
            None if canary => DEFAULT_STEPS.to_vec(),
            None => Vec::new(),
        },
        pause_seconds: pause.as_ref().map(|p| p.0.seconds),
        pause: pause.map(|p| p.0.text),
        auto_promote: blue_green.then(|| auto_promote.map_or(cx.env.approval != Approval::Manual, |a| a.0)),
        analysis,
        rollback_window: rollback_window.map(|v| v.0),
        strategy,
    })
}

/// The merged `analysis` map, which needs a progressive strategy, a
/// threshold and the environment's Prometheus.
fn analysis(
    cx: &Context,
    levels: &[RolloutLevel],
    strategy: &str,
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> Option<Analysis> {
    let with: Vec<RolloutLevel> = levels
        .iter()
        .filter(|l| l.layer.analysis.is_some())
        .map(|l| RolloutLevel {
            file: l.file,
            name: l.name,
            layer: l.layer,
        })
        .collect();
    let (top, block) = with.last().map(|l| (l, l.layer.analysis.as_ref().expect("filtered")))?;
    fn a<'l>(l: &RolloutLevel<'l>) -> &'l crate::catalog::rollout::AnalysisLayer {
        l.layer.analysis.as_ref().expect("filtered")
    }
    let rate = with
        .iter()
        .rev()
        .find_map(|l| a(l).success_rate.as_ref().map(|v| (l, v)));
    let latency = with
        .iter()
        .rev()
        .find_map(|l| a(l).latency_p99_ms.as_ref().map(|v| (l, v)));
    let interval = with.iter().rev().find_map(|l| a(l).interval.as_ref().map(|v| (l, v)));
    let limit = with
        .iter()
        .rev()
        .find_map(|l| a(l).failure_limit.as_ref().map(|v| (l, v)));
    for (key, found) in [
        ("success_rate", rate.map(|(l, v)| (l, v.pos))),
        ("latency_p99_ms", latency.map(|(l, v)| (l, v.pos))),
        ("interval", interval.map(|(l, v)| (l, v.pos))),
        ("failure_limit", limit.map(|(l, v)| (l, v.pos))),
    ] {
        if let Some((l, pos)) = found {
            origins.note(format_args!("rollout.analysis.{key}"), || {
                Origin::new(l.file, pos, l.name)
            });
        }
    }
    if strategy == "rolling" {
        diags.push(
            Diagnostic::new(
                top.file,
                block.pos,
                "rollout.analysis needs strategy canary or blue-green",
            )
            .with_hint("a Deployment's rolling update has no analysis; set `strategy: canary`"),
        );
        return None;
    }
    if rate.is_none() && latency.is_none() {
        diags.push(Diagnostic::new(
            top.file,
            block.pos,
            "rollout.analysis sets no threshold: add `success_rate` or `latency_p99_ms`",
        ));
        return None;
    }
    let Some(prometheus) = &cx.env.prometheus else {
        // Set in a profile, the error still names the service it fails.
        let whose = if top.file == cx.service_file {
            String::new()
        } else {
            format!(" (service `{}`)", cx.service_file)
        };
        diags.push(
            Diagnostic::new(
                top.file,
                block.pos,
                format!(
                    "rollout.analysis in environment `{}`, which has no `prometheus`{whose}",
                    cx.env.name.value
                ),
            )
            .with_hint(format!(
                "add `prometheus: <address>` to `{}` in catalog/environments.yaml, or leave analysis out of `overrides.{}`",
                cx.env.name.value, cx.env.name.value
            )),
        );
        return None;
    };
    origins.note("rollout.analysis.prometheus", || {
        Origin::new(
            crate::catalog::ENVIRONMENTS_FILE,
            prometheus.pos,
            format!("environment {}", cx.env.name.value),
        )
    });
    Some(Analysis {
        success_rate: rate.map(|(_, v)| v.value),
        latency_p99_ms: latency.map(|(_, v)| v.value),
        interval: interval.map_or(DEFAULT_INTERVAL.to_string(), |(_, v)| v.value.text.clone()),
        interval_seconds: interval.map_or(60, |(_, v)| v.value.seconds),
        failure_limit: limit.map_or(DEFAULT_FAILURE_LIMIT, |(_, v)| v.value),
        prometheus: prometheus.value.clone(),
    })
}

#[cfg(test)]
mod tests {
    use crate::catalog::rollout::IntOrPercent;
    use crate::resolve::test_repo::{run, service, target};

    const API: &str = "profiles:\n  p:\n    archetype: api\n    defaults:\n      rollout: { strategy: canary, steps: [10, 100], max_surge: 1 }\n";

    #[test]
    fn keys_merge_across_layers_the_last_winning() {
        let t = target(
            API,
            &service("rollout: { max_surge: 30% }\noverrides:\n  dev:\n    rollout: { steps: [50, 100] }\n"),
        );
        let r = t.values.rollout.unwrap();
        assert_eq!(r.strategy, "canary");
        assert_eq!(r.steps, [50, 100]);
        assert_eq!(r.max_surge, Some(IntOrPercent::Percent("30%".into())));
        assert_eq!(t.origins["rollout.strategy"].level, "profile p");
        assert_eq!(t.origins["rollout.steps"].level, "overrides.dev");
        assert_eq!(t.origins["rollout.max_surge"].level, "service");
    }

    #[test]
    fn a_key_the_strategy_does_not_use_is_an_error_where_it_is_set() {
        let (_, diags) = run(API, &service("rollout: { strategy: blue-green }\n"));
        let found: Vec<_> = diags.iter().map(|d| (d.file.as_str(), d.message.as_str())).collect();
        assert_eq!(
            found,
            [
                (
                    "catalog/profiles.yaml",
                    "rollout.steps is for canary, and the strategy here is blue-green"
                ),
                (
                    "catalog/profiles.yaml",
                    "rollout.max_surge is for rolling and canary, and the strategy here is blue-green"
                ),
            ]
        );
    }

    #[test]
    fn no_block_no_rollout_and_blue_green_waits_for_a_human_where_approval_is_manual() {
        let t = target("profiles:\n  p: { archetype: api }\n", &service(""));
        assert!(t.values.rollout.is_none());
        let t = target(
            "profiles:\n  p: { archetype: api }\n",
            &service("rollout: { strategy: blue-green }\n"),
        );
        // The test environment's approval is manual (the default).
        assert_eq!(t.values.rollout.unwrap().auto_promote, Some(false));
    }
}
