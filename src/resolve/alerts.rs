//! Resolves the `alerts` block: thresholds folded key by key over the
//! defaults of SPEC §4, for targets with the `alerts` component. A block
//! without the component, or on an archetype the component does not apply
//! to, is an error at the block.

use serde_json::Number;

use crate::catalog::alerts::AlertsLayer;
use crate::diagnostic::{Diagnostic, Pos};
use crate::resolve::layers::{Level, Scope};
use crate::resolve::provenance::{Origin, Origins};
use crate::resolve::target::Alerts;

/// The component that renders the alerts.
pub(crate) const COMPONENT: &str = "alerts";

const DEFAULT_ERROR_RATE: i64 = 5;
const DEFAULT_LATENCY_P99_MS: i64 = 1000;
const DEFAULT_FOR: &str = "5m";

/// The resolved thresholds when the component is enabled; `None` otherwise,
/// or on an error (reported).
pub(crate) fn fold(
    scope: &Scope,
    levels: &[Level],
    components: &[String],
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> Option<Alerts> {
    let blocks: Vec<(&Level, &AlertsLayer)> = levels
        .iter()
        .filter_map(|level| level.layer.alerts.as_ref().map(|a| (level, a)))
        .collect();
    let enabled = components.iter().any(|c| c == COMPONENT);
    let archetype = scope.archetype;
    if !enabled {
        let &(level, block) = blocks.last()?;
        diags.push(not_enabled(scope, level, block));
        return None;
    }
    // Error rate and latency come from the requests a Service carries.
    let requests = archetype.objects.iter().any(|d| d.kind == "Service");
    let before = diags.len();
    let mut pick = |key: &str, pos: fn(&AlertsLayer) -> Option<Pos>| {
        let (level, at) = blocks.iter().rev().find_map(|(level, b)| Some((level, pos(b)?)))?;
        origins.note(format_args!("alerts.{key}"), || level.origin(at));
        if !requests && key != "for" {
            diags.push(
                Diagnostic::new(
                    level.file,
                    at,
                    format!(
                        "alerts.{key} has no effect: archetype `{}` serves no requests, so it gets the replicas alert only",
                        archetype.name
                    ),
                )
                .with_hint(format!("remove `{key}`")),
            );
        }
        Some(())
    };
    pick("error_rate", |b| b.error_rate.as_ref().map(|v| v.pos));
    pick("latency_p99_ms", |b| b.latency_p99_ms.as_ref().map(|v| v.pos));
    pick("for", |b| b.for_.as_ref().map(|v| v.pos));
    if diags.len() > before {
        return None;
    }
    let defaults = &scope.blueprints.components[COMPONENT].decl_file;
    for key in ["error_rate", "latency_p99_ms", "for"] {
        if origins.get(&format!("alerts.{key}")).is_none() {
            origins.note(format_args!("alerts.{key}"), || {
                Origin::new(defaults, Pos::START, "default")
            });
        }
    }
    let last = |f: fn(&AlertsLayer) -> bool| blocks.iter().rev().map(|(_, b)| *b).find(|b| f(b));
    Some(Alerts {
        error_rate: last(|b| b.error_rate.is_some())
            .and_then(|b| b.error_rate.as_ref())
            .map_or(Number::from(DEFAULT_ERROR_RATE), |v| v.value.clone()),
        latency_p99_ms: last(|b| b.latency_p99_ms.is_some())
            .and_then(|b| b.latency_p99_ms.as_ref())
            .map_or(DEFAULT_LATENCY_P99_MS, |v| v.value),
        for_: last(|b| b.for_.is_some())
            .and_then(|b| b.for_.as_ref())
            .map_or(DEFAULT_FOR.to_string(), |v| v.value.text.clone()),
        requests,
    })
}

/// An `alerts` block where the component is off: add the component, unless
/// it does not apply to the archetype (a cronjob), where adding it is no fix.
fn not_enabled(scope: &Scope, level: &Level, block: &AlertsLayer) -> Diagnostic {
    let archetype = &scope.archetype.name;
    let component = scope.blueprints.components.get(COMPONENT);
    match component {
        Some(c) if !c.applies_to.is_empty() && !c.applies_to.contains(archetype) => Diagnostic::new(
            level.file,
            block.pos,
            format!("archetype `{archetype}` takes no `alerts`"),
        )
        .with_hint(format!(
            "the `{COMPONENT}` component applies to: {}; remove `alerts`",
            c.applies_to.join(", ")
        )),
        _ => Diagnostic::new(
            level.file,
            block.pos,
            format!("`alerts` is set, but the `{COMPONENT}` component is not enabled"),
        )
        .with_hint(format!("did you mean to add `{COMPONENT}` to `components`?")),
    }
}
