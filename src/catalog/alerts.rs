//! The `alerts` block (SPEC §4 "Alerts"): the thresholds of the `alerts`
//! component's PrometheusRule.
//!
//! ```yaml
//! alerts:
//!   error_rate: 5         # percent of 5xx responses over 5 minutes, at most
//!   latency_p99_ms: 1000  # at most
//!   for: 5m               # how long a breach lasts before it fires
//! ```
//!
//! Each layer may set any key; `resolve::alerts` folds them key by key and
//! fills in the defaults.

use serde_json::Number;

use crate::catalog::migration::{Duration, read_duration};
use crate::catalog::reader::{Reader, Spanned};
use crate::diagnostic::Pos;
use crate::yaml_tree::{Node, NodeKind};

pub(crate) const KEYS: &[&str] = &["error_rate", "latency_p99_ms", "for"];

/// What one layer's `alerts` block sets.
#[derive(Clone, Debug)]
pub struct AlertsLayer {
    /// Where the block is written.
    pub pos: Pos,
    /// Percent, above 0 and below 100; kept as written (`5` or `0.5`).
    pub error_rate: Option<Spanned<Number>>,
    pub latency_p99_ms: Option<Spanned<i64>>,
    pub for_: Option<Spanned<Duration>>,
}

/// The slowest p99 latency threshold accepted: ten minutes.
const MAX_LATENCY_MS: i64 = 600_000;

/// Reads an `alerts` block; `None` when it has an error (reported).
pub(crate) fn read(r: &mut Reader, node: &Node) -> Option<AlertsLayer> {
    let before = r.diags.len();
    let f = r.map(node, "alerts", KEYS)?;
    let error_rate = f
        .get("error_rate")
        .and_then(|n| read_percent(r, n, "alerts.error_rate"));
    let latency_p99_ms = f
        .get("latency_p99_ms")
        .and_then(|n| r.int(n, "alerts.latency_p99_ms", 1, MAX_LATENCY_MS));
    let for_ = f.get("for").and_then(|n| read_duration(r, n, "alerts.for", true));
    (r.diags.len() == before).then_some(AlertsLayer {
        pos: node.pos,
        error_rate,
        latency_p99_ms,
        for_,
    })
}

/// A plain number above 0 and below 100: at 0 every failed request would
/// page, and no error rate exceeds 100.
fn read_percent(r: &mut Reader, node: &Node, what: &str) -> Option<Spanned<Number>> {
    let parsed = match &node.kind {
        NodeKind::Scalar { text, plain: true } => text
            .parse::<i64>()
            .ok()
            .map(Number::from)
            .or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(Number::from_f64)
            })
            .map(|n| (n.as_f64().unwrap_or(f64::NAN), n)),
        _ => None,
    };
    match parsed {
        Some((value, n)) if value > 0.0 && value < 100.0 => Some(Spanned::new(n, node.pos)),
        Some((_, n)) => {
            r.push(
                crate::diagnostic::Diagnostic::new(
                    r.file,
                    node.pos,
                    format!("{what} is {n}; it must be above 0 and below 100 (percent)"),
                )
                .with_hint("e.g. `error_rate: 5` fires when more than 5 % of requests fail"),
            );
            None
        }
        None => {
            let found = match &node.kind {
                NodeKind::Scalar { text, plain: false } => format!("the quoted string `{text}`"),
                NodeKind::Scalar { text, .. } => format!("`{text}`"),
                _ => node.kind_name().to_string(),
            };
            r.error(node.pos, format!("{what} must be a number (percent), found {found}"));
            None
        }
    }
}
