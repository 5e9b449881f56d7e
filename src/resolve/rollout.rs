//! The `rollout` block of one environment: each key from the last layer that
//! sets it (profile defaults → service → `overrides.<env>`, the `analysis`
//! map merging key by key too), checked against the strategy, the archetype
//! and the environment.

use serde::Serialize;

use crate::blueprint::Blueprint;
use crate::catalog::reader::Spanned;
use crate::catalog::rollout::{AnalysisLayer, Duration, IntOrPercent, RolloutLayer, both_zero};
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
    let (strategy, strategy_pos, strategy_file) = last(levels, "strategy", |l| l.strategy.as_ref(), origins)
        .unwrap_or(("rolling".to_string(), block.layer.pos, block.file));
    if !check_archetype(cx.archetype, &strategy, (strategy_pos, strategy_file), diags) {
        return None;
    }
    let keys = Keys::read(levels, origins);
    keys.check(&strategy, diags);
    let analysis = analysis(cx, levels, &strategy, origins, diags);
    if diags.len() > before {
        return None;
    }
    Some(keys.into_rollout(cx, strategy, analysis))
}

/// Whether the archetype can take a rollout at all; a blue-green without a
/// Service is reported too, but the other keys are still checked.
fn check_archetype(archetype: &Blueprint, strategy: &str, (pos, file): SetAt, diags: &mut Vec<Diagnostic>) -> bool {
    if archetype.rollout_workload.is_none() {
        diags.push(
            Diagnostic::new(
                file,
                pos,
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
        return false;
    }
    if strategy == "blue-green" && !archetype.objects.iter().any(|d| d.kind == "Service") {
        diags.push(
            Diagnostic::new(
                file,
                pos,
                format!(
                    "blue-green needs a Service, and archetype `{}` has none",
                    archetype.name
                ),
            )
            .with_hint("use `strategy: canary`, which splits traffic by replica count without a Service"),
        );
    }
    true
}

/// The strategy-specific keys, each from the last layer that sets it.
struct Keys<'a> {
    max_unavailable: Option<(IntOrPercent, Pos, &'a str)>,
    max_surge: Option<(IntOrPercent, Pos, &'a str)>,
    steps: Option<(Vec<i64>, Pos, &'a str)>,
    pause: Option<(Duration, Pos, &'a str)>,
    auto_promote: Option<(bool, Pos, &'a str)>,
    rollback_window: Option<(i64, Pos, &'a str)>,
}

impl<'a> Keys<'a> {
    fn read(levels: &[RolloutLevel<'a>], origins: &mut Origins) -> Self {
        Keys {
            max_unavailable: last(levels, "max_unavailable", |l| l.max_unavailable.as_ref(), origins),
            max_surge: last(levels, "max_surge", |l| l.max_surge.as_ref(), origins),
            steps: last(levels, "steps", |l| l.steps.as_ref(), origins),
            pause: last(levels, "pause", |l| l.pause.as_ref(), origins),
            auto_promote: last(levels, "auto_promote", |l| l.auto_promote.as_ref(), origins),
            rollback_window: last(levels, "rollback_window", |l| l.rollback_window.as_ref(), origins),
        }
    }

    /// Both surge keys zero, and any key the strategy does not use: a
    /// mistake, never silently ignored.
    fn check(&self, strategy: &str, diags: &mut Vec<Diagnostic>) {
        if let (Some(u), Some((s, pos, file))) = (&self.max_unavailable, &self.max_surge)
            && u.0.is_zero()
            && s.is_zero()
        {
            diags.push(both_zero(file, *pos));
        }
        fn at<'s, T>(v: &Option<(T, Pos, &'s str)>) -> Option<SetAt<'s>> {
            v.as_ref().map(|v| (v.1, v.2))
        }
        let progressive: &[&str] = &["canary", "blue-green"];
        let unused: [(&str, Option<SetAt>, &[&str]); 6] = [
            ("max_unavailable", at(&self.max_unavailable), &["rolling", "canary"]),
            ("max_surge", at(&self.max_surge), &["rolling", "canary"]),
            ("steps", at(&self.steps), &["canary"]),
            ("pause", at(&self.pause), progressive),
            ("auto_promote", at(&self.auto_promote), &["blue-green"]),
            ("rollback_window", at(&self.rollback_window), progressive),
        ];
        for (key, set, strategies) in unused {
            if let Some((pos, file)) = set
                && !strategies.contains(&strategy)
            {
                diags.push(Diagnostic::new(
                    file,
                    pos,
                    format!(
                        "rollout.{key} is for {}, and the strategy here is {strategy}",
                        strategies.join(" and ")
                    ),
                ));
            }
        }
    }

    fn into_rollout(self, cx: &Context, strategy: String, analysis: Option<Analysis>) -> Rollout {
        let canary = strategy == "canary";
        let blue_green = strategy == "blue-green";
        Rollout {
            max_unavailable: self.max_unavailable.map(|v| v.0),
            max_surge: self.max_surge.map(|v| v.0),
            steps: match self.steps {
                Some(s) => s.0,
                None if canary => DEFAULT_STEPS.to_vec(),
                None => Vec::new(),
            },
            pause_seconds: self.pause.as_ref().map(|p| p.0.seconds),
            pause: self.pause.map(|p| p.0.text),
            auto_promote: blue_green.then(|| self.auto_promote.map_or(cx.env.approval != Approval::Manual, |a| a.0)),
            analysis,
            rollback_window: self.rollback_window.map(|v| v.0),
            strategy,
        }
    }
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
    let keys = AnalysisKeys::read(&with, origins);
    let at = (block.pos, top.file);
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
    if keys.rate.is_none() && keys.latency.is_none() {
        diags.push(Diagnostic::new(
            top.file,
            block.pos,
            "rollout.analysis sets no threshold: add `success_rate` or `latency_p99_ms`",
        ));
        return None;
    }
    let prometheus = prometheus(cx, at, origins, diags)?;
    Some(keys.into_analysis(prometheus))
}

/// One `analysis` key from the last layer that sets it, with that layer.
type AnalysisKey<'l, 'a, T> = Option<(&'l RolloutLevel<'a>, &'a Spanned<T>)>;

/// The `analysis` keys merged key by key over the layers that write one.
struct AnalysisKeys<'l, 'a> {
    rate: AnalysisKey<'l, 'a, f64>,
    latency: AnalysisKey<'l, 'a, i64>,
    interval: AnalysisKey<'l, 'a, Duration>,
    limit: AnalysisKey<'l, 'a, i64>,
}

impl<'l, 'a> AnalysisKeys<'l, 'a> {
    /// Each key from the last of `with` (levels that all have an analysis
    /// map) that sets it; its origin noted under `rollout.analysis.<key>`.
    fn read(with: &'l [RolloutLevel<'a>], origins: &mut Origins) -> Self {
        fn a<'a>(l: &RolloutLevel<'a>) -> &'a AnalysisLayer {
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
        AnalysisKeys {
            rate,
            latency,
            interval,
            limit,
        }
    }

    fn into_analysis(self, prometheus: String) -> Analysis {
        Analysis {
            success_rate: self.rate.map(|(_, v)| v.value),
            latency_p99_ms: self.latency.map(|(_, v)| v.value),
            interval: self
                .interval
                .map_or(DEFAULT_INTERVAL.to_string(), |(_, v)| v.value.text.clone()),
            interval_seconds: self.interval.map_or(60, |(_, v)| v.value.seconds),
            failure_limit: self.limit.map_or(DEFAULT_FAILURE_LIMIT, |(_, v)| v.value),
            prometheus,
        }
    }
}

/// The environment's Prometheus address, which analysis measures against;
/// its absence is an error at the `analysis` block.
fn prometheus(cx: &Context, (pos, file): SetAt, origins: &mut Origins, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let Some(prometheus) = &cx.env.prometheus else {
        // Set in a profile, the error still names the service it fails.
        let whose = if file == cx.service_file {
            String::new()
        } else {
            format!(" (service `{}`)", cx.service_file)
        };
        diags.push(
            Diagnostic::new(
                file,
                pos,
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
    Some(prometheus.value.clone())
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
        let r = t.values.rollout.clone().unwrap();
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
        assert_eq!(t.values.rollout.as_ref().unwrap().auto_promote, Some(false));
    }
}
