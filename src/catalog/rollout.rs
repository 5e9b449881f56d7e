//! The `rollout` block (SPEC §4 "Rollout strategy"), as any layer writes it:
//! a service file, a profile's `defaults` or `overrides.<env>`. Each key is
//! kept with its position; the layers merge key by key in `resolve::rollout`.

use crate::catalog::reader::{Reader, Spanned};
use crate::diagnostic::{Diagnostic, Pos};
use crate::yaml_tree::{Node, NodeKind};

pub const STRATEGIES: &[&str] = &["rolling", "canary", "blue-green"];

const ROLLOUT_KEYS: &[&str] = &[
    "strategy",
    "max_unavailable",
    "max_surge",
    "steps",
    "pause",
    "auto_promote",
    "analysis",
    "rollback_window",
];
const ANALYSIS_KEYS: &[&str] = &["success_rate", "latency_p99_ms", "interval", "failure_limit"];

/// A count of pods or a percentage of them: Kubernetes' IntOrString. An int
/// stays an int in the output and a percent stays a string.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum IntOrPercent {
    Int(i64),
    Percent(String),
}

impl IntOrPercent {
    pub fn is_zero(&self) -> bool {
        match self {
            IntOrPercent::Int(n) => *n == 0,
            IntOrPercent::Percent(p) => p.trim_end_matches('%').parse::<u32>() == Ok(0),
        }
    }
}

/// A duration as written (`30s`, `5m`, `1h30m`) and its length in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duration {
    pub text: String,
    pub seconds: i64,
}

/// One layer's `analysis` block; unset keys stay `None`.
#[derive(Clone, Debug, Default)]
pub struct AnalysisLayer {
    pub pos: Pos,
    /// Percent of non-5xx requests, at least; kept as written (`99.5`).
    pub success_rate: Option<Spanned<f64>>,
    pub latency_p99_ms: Option<Spanned<i64>>,
    pub interval: Option<Spanned<Duration>>,
    pub failure_limit: Option<Spanned<i64>>,
}

/// One layer's `rollout` block; unset keys stay `None`.
#[derive(Clone, Debug, Default)]
pub struct RolloutLayer {
    /// Where the block starts.
    pub pos: Pos,
    pub strategy: Option<Spanned<String>>,
    pub max_unavailable: Option<Spanned<IntOrPercent>>,
    pub max_surge: Option<Spanned<IntOrPercent>>,
    pub steps: Option<Spanned<Vec<i64>>>,
    pub pause: Option<Spanned<Duration>>,
    pub auto_promote: Option<Spanned<bool>>,
    pub analysis: Option<AnalysisLayer>,
    pub rollback_window: Option<Spanned<i64>>,
}

/// Reads a `rollout` block; every bad value is an error at its line.
pub fn read(r: &mut Reader, node: &Node) -> Option<RolloutLayer> {
    let f = r.map(node, "rollout", ROLLOUT_KEYS)?;
    let mut layer = RolloutLayer {
        pos: node.pos,
        strategy: f
            .get("strategy")
            .and_then(|n| r.one_of(n, "rollout.strategy", STRATEGIES)),
        max_unavailable: f
            .get("max_unavailable")
            .and_then(|n| int_or_percent(r, n, "rollout.max_unavailable")),
        max_surge: f
            .get("max_surge")
            .and_then(|n| int_or_percent(r, n, "rollout.max_surge")),
        steps: f.get("steps").and_then(|n| steps(r, n)),
        pause: f.get("pause").and_then(|n| duration(r, n, "rollout.pause")),
        auto_promote: f
            .get("auto_promote")
            .and_then(|n| r.bool(n, "rollout.auto_promote").map(|b| Spanned::new(b, n.pos))),
        rollback_window: f
            .get("rollback_window")
            .and_then(|n| r.int(n, "rollout.rollback_window", 1, 100)),
        analysis: None,
    };
    if let Some(n) = f.get("analysis")
        && let Some(a) = r.map(n, "rollout.analysis", ANALYSIS_KEYS)
    {
        layer.analysis = Some(AnalysisLayer {
            pos: n.pos,
            success_rate: a.get("success_rate").and_then(|n| success_rate(r, n)),
            latency_p99_ms: a
                .get("latency_p99_ms")
                .and_then(|n| r.int(n, "rollout.analysis.latency_p99_ms", 1, 600_000)),
            interval: a
                .get("interval")
                .and_then(|n| duration(r, n, "rollout.analysis.interval")),
            failure_limit: a
                .get("failure_limit")
                .and_then(|n| r.int(n, "rollout.analysis.failure_limit", 0, 100)),
        });
    }
    if let (Some(surge), Some(unavailable)) = (&layer.max_surge, &layer.max_unavailable)
        && surge.value.is_zero()
        && unavailable.value.is_zero()
    {
        r.push(both_zero(r.file, surge.pos));
    }
    Some(layer)
}

/// `max_surge` and `max_unavailable` both 0: no pod could ever be replaced.
pub fn both_zero(file: &str, pos: Pos) -> Diagnostic {
    Diagnostic::new(
        file,
        pos,
        "rollout.max_surge and rollout.max_unavailable are both 0, so no pod could ever be replaced",
    )
    .with_hint("let one of them be above 0, e.g. `max_surge: 25%`")
}

fn int_or_percent(r: &mut Reader, node: &Node, what: &str) -> Option<Spanned<IntOrPercent>> {
    let value = match &node.kind {
        NodeKind::Scalar { text, plain: true } if text.parse::<i64>().is_ok() => {
            r.int(node, what, 0, 10_000).map(|n| IntOrPercent::Int(n.value))
        }
        NodeKind::Scalar { text, .. } => match text.strip_suffix('%').map(str::parse::<u32>) {
            Some(Ok(p)) if p <= 100 && !text.starts_with('+') => Some(IntOrPercent::Percent(text.clone())),
            Some(Ok(p)) if p > 100 => {
                r.error(node.pos, format!("{what} is {p}%, above 100%"));
                None
            }
            _ => {
                r.error(
                    node.pos,
                    format!("{what} must be a whole number or a percentage such as `25%`, found `{text}`"),
                );
                None
            }
        },
        _ => {
            r.error(
                node.pos,
                format!(
                    "{what} must be a whole number or a percentage, found {}",
                    node.kind_name()
                ),
            );
            None
        }
    };
    value.map(|v| Spanned::new(v, node.pos))
}

/// Canary weights: whole percents, strictly ascending, the last 100.
fn steps(r: &mut Reader, node: &Node) -> Option<Spanned<Vec<i64>>> {
    let NodeKind::Seq(items) = &node.kind else {
        r.error(
            node.pos,
            format!("rollout.steps must be a list of percents, found {}", node.kind_name()),
        );
        return None;
    };
    let before = r.diags.len();
    let mut weights: Vec<i64> = Vec::new();
    for item in items {
        let Some(w) = r.int(item, "a rollout step", 1, i64::MAX) else {
            continue;
        };
        if w.value > 100 {
            r.error(item.pos, format!("rollout step {} is above 100 percent", w.value));
        } else if let Some(&last) = weights.last()
            && w.value <= last
        {
            r.push(
                Diagnostic::new(
                    r.file,
                    item.pos,
                    format!(
                        "rollout step {} does not rise above the step before it ({last})",
                        w.value
                    ),
                )
                .with_hint("steps are canary weights in percent, strictly ascending, e.g. `[5, 25, 50, 100]`"),
            );
        }
        weights.push(w.value);
    }
    if r.diags.len() > before {
        return None;
    }
    match (weights.last(), items.last()) {
        (Some(100), _) => Some(Spanned::new(weights, node.pos)),
        (Some(last), Some(item)) => {
            r.push(
                Diagnostic::new(r.file, item.pos, format!("the last rollout step is {last}, not 100"))
                    .with_hint("a canary ends with all traffic on the new version: end the steps with 100"),
            );
            None
        }
        _ => {
            r.error(node.pos, "rollout.steps is empty; the last step must be 100");
            None
        }
    }
}

fn success_rate(r: &mut Reader, node: &Node) -> Option<Spanned<f64>> {
    let what = "rollout.analysis.success_rate";
    let parsed = match &node.kind {
        NodeKind::Scalar { text, plain: true } => text.parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    };
    match parsed {
        Some(p) if p > 0.0 && p <= 100.0 => Some(Spanned::new(p, node.pos)),
        Some(p) => {
            r.error(
                node.pos,
                format!("{what} is a percent above 0 and at most 100, found {p}"),
            );
            None
        }
        None => {
            r.error(
                node.pos,
                format!("{what} must be a number such as `99.5`, found {}", describe(node)),
            );
            None
        }
    }
}

fn describe(node: &Node) -> String {
    match node.scalar() {
        Some(text) => format!("`{text}`"),
        None => node.kind_name().to_string(),
    }
}

/// A duration of whole hours, minutes and seconds, in that order: `90s`,
/// `5m`, `1h30m`; what Argo Rollouts' duration strings take, and never 0.
fn duration(r: &mut Reader, node: &Node, what: &str) -> Option<Spanned<Duration>> {
    let text = r.string(node, what)?;
    // One duration syntax for every catalog key (at most a week).
    let parsed = crate::catalog::migration::parse_duration(&text.value).ok();
    match parsed.and_then(|s| i64::try_from(s).ok()) {
        Some(seconds) if seconds > 0 => Some(Spanned::new(
            Duration {
                text: text.value,
                seconds,
            },
            node.pos,
        )),
        Some(_) => {
            r.error(node.pos, format!("{what} is 0; leave it out instead"));
            None
        }
        None => {
            r.push(
                Diagnostic::new(r.file, node.pos, format!("{what} `{}` is not a duration", text.value))
                    .with_hint("write whole hours, minutes and seconds: `30s`, `5m`, `1h30m`"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let parse = |text: &str| crate::catalog::migration::parse_duration(text).ok();
        assert_eq!(parse("90s"), Some(90));
        assert_eq!(parse("1h30m"), Some(5400));
        assert_eq!(parse("5m"), Some(300));
        for bad in ["", "5", "m", "5x", "1m1h", "5m5m", "-5m", "1.5m", "5 m"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    fn read_text(text: &str) -> (Option<RolloutLayer>, Vec<Diagnostic>) {
        let node = crate::yaml_tree::parse("s.yaml", text).unwrap();
        let mut r = Reader::new("s.yaml");
        let layer = read(&mut r, &node);
        (layer, r.diags)
    }

    #[test]
    fn int_stays_int_and_percent_stays_a_string() {
        let (layer, diags) = read_text("max_surge: 25%\nmax_unavailable: 0\nsteps: [5, 100]\n");
        assert!(diags.is_empty(), "{diags:?}");
        let layer = layer.unwrap();
        assert_eq!(layer.max_surge.unwrap().value, IntOrPercent::Percent("25%".into()));
        assert_eq!(layer.max_unavailable.unwrap().value, IntOrPercent::Int(0));
        assert_eq!(layer.steps.unwrap().value, [5, 100]);
    }

    #[test]
    fn bad_values_are_errors_at_their_line() {
        let cases = [
            (
                "steps: [5, 5, 100]\n",
                Pos::new(1, 12),
                "rollout step 5 does not rise above the step before it (5)",
            ),
            (
                "steps: [5, 50]\n",
                Pos::new(1, 12),
                "the last rollout step is 50, not 100",
            ),
            (
                "steps: [5, 150]\n",
                Pos::new(1, 12),
                "rollout step 150 is above 100 percent",
            ),
            (
                "pause: 5 minutes\n",
                Pos::new(1, 8),
                "rollout.pause `5 minutes` is not a duration",
            ),
            (
                "max_surge: 120%\n",
                Pos::new(1, 12),
                "rollout.max_surge is 120%, above 100%",
            ),
            (
                "max_surge: 0%\nmax_unavailable: 0\n",
                Pos::new(1, 12),
                "rollout.max_surge and rollout.max_unavailable are both 0, so no pod could ever be replaced",
            ),
        ];
        for (text, pos, message) in cases {
            let (_, diags) = read_text(text);
            let found: Vec<_> = diags.iter().map(|d| (d.pos, d.message.as_str())).collect();
            assert_eq!(found, [(pos, message)], "{text}");
        }
    }
}
