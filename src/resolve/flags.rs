//! Feature flags of one environment (SPEC §4): the `flags` blocks of the
//! profile's defaults, the service and `overrides.<env>` merged flag by flag
//! and setting by setting, the last layer winning; a flag whose
//! `environments` leave this one out is absent here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::flags::FlagSpec;
use crate::catalog::reader::Spanned;
use crate::diagnostic::Diagnostic;
use crate::resolve::layers::{Level, Scope};
use crate::resolve::provenance::{Origin, Origins};

/// The component that renders the flags ConfigMap (`components/flags/`).
pub const COMPONENT: &str = "flags";

/// One resolved flag of a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub description: Option<String>,
    pub enabled: bool,
    /// 0..=100.
    pub rollout_percentage: i64,
    /// Values of the evaluation context's `team` that always get the flag.
    pub teams: Vec<String>,
}

/// A flag's settings while the layers are folded, each with the level that
/// set it last.
#[derive(Default)]
struct Merged<'a> {
    description: Option<Spanned<String>>,
    enabled: Option<Spanned<bool>>,
    rollout_percentage: Option<Spanned<i64>>,
    environments: Option<&'a [Spanned<String>]>,
    teams: Option<&'a [Spanned<String>]>,
    /// Where an override sets it, for the error when it is absent there.
    in_override: Option<(&'a str, &'a Spanned<String>)>,
}

/// The flags of environment `env`, by key. Problems: an `environments`
/// entry the service does not deploy to, and an override setting a flag
/// that its `environments` leave out of that environment.
pub(crate) fn fold<'a>(
    scope: &Scope<'a>,
    levels: &[Level<'a>],
    env: &str,
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Flag> {
    let service = scope.service;
    let mut merged: BTreeMap<&str, Merged> = BTreeMap::new();
    for level in levels {
        let (file, name, layer) = level.parts();
        for spec in &layer.flags {
            let m = merged.entry(spec.key.value.as_str()).or_default();
            merge(m, spec, file, name, origins);
            if name.starts_with("overrides.") {
                m.in_override = Some((file, &spec.key));
            }
            for e in spec.environments.iter().flatten() {
                if !service.environments.iter().any(|s| s.value == e.value) {
                    let listed = service.environments.iter().map(|s| s.value.as_str());
                    diags.push(
                        Diagnostic::new(
                            file,
                            e.pos,
                            format!(
                                "flag `{}` lists environment `{}`, which service `{}` does not deploy to",
                                spec.key.value, e.value, service.name.value
                            ),
                        )
                        .suggest(&e.value, listed),
                    );
                }
            }
        }
    }
    let mut flags = BTreeMap::new();
    for (key, m) in merged {
        let here = m.environments.is_none_or(|list| list.iter().any(|e| e.value == env));
        if !here {
            if let Some((file, at)) = m.in_override {
                diags.push(
                    Diagnostic::new(
                        file,
                        at.pos,
                        format!("overrides.{env} sets flag `{key}`, which does not exist in `{env}`"),
                    )
                    .with_hint(format!(
                        "add `{env}` to the flag's `environments`, or remove it from `overrides.{env}`"
                    )),
                );
            }
            continue;
        }
        let strings = |list: Option<&[Spanned<String>]>| -> Vec<String> {
            let mut v: Vec<String> = list.unwrap_or_default().iter().map(|s| s.value.clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        flags.insert(
            key.to_string(),
            Flag {
                description: m.description.map(|d| d.value),
                enabled: m.enabled.is_none_or(|e| e.value),
                rollout_percentage: m.rollout_percentage.map_or(100, |p| p.value),
                teams: strings(m.teams),
            },
        );
    }
    flags
}

/// Folds one layer's settings of a flag over the lower ones'.
fn merge<'a>(m: &mut Merged<'a>, spec: &'a FlagSpec, file: &str, level: &str, origins: &mut Origins) {
    let key = &spec.key.value;
    let mut note = |setting: &str, pos| {
        origins.note(format_args!("flags.{key}.{setting}"), || Origin::new(file, pos, level));
    };
    note("exists", spec.key.pos);
    if let Some(v) = &spec.description {
        note("description", v.pos);
        m.description = Some(v.clone());
    }
    if let Some(v) = &spec.enabled {
        note("enabled", v.pos);
        m.enabled = Some(v.clone());
    }
    if let Some(v) = &spec.rollout_percentage {
        note("rollout_percentage", v.pos);
        m.rollout_percentage = Some(v.clone());
    }
    if let Some(v) = &spec.environments {
        note("environments", v.first().map_or(spec.key.pos, |e| e.pos));
        m.environments = Some(v);
    }
    if let Some(v) = &spec.teams {
        note("teams", v.first().map_or(spec.key.pos, |e| e.pos));
        m.teams = Some(v);
    }
}

/// Flags need the component that renders their ConfigMap; a repo made
/// before it existed gets an error at the first flag, never flags silently
/// left out of the output.
pub(crate) fn check_component(scope: &Scope, levels: &[Level], components: &[String], diags: &mut Vec<Diagnostic>) {
    if components.iter().any(|c| c == COMPONENT) {
        return;
    }
    let first = levels.iter().find_map(|level| {
        let (file, _, layer) = level.parts();
        layer.flags.first().map(|f| (file, f.key.pos))
    });
    if let Some((file, pos)) = first {
        let on = scope.blueprints.components.contains_key(COMPONENT);
        let message = if on {
            "flags need the `flags` component, which is removed here"
        } else {
            "flags need the `flags` component, which is not in `components/`"
        };
        diags.push(Diagnostic::new(file, pos, message).with_hint(
            "`components/flags/` renders the `<service>-flags` ConfigMap; `stamp init` writes the built-in one",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::Pos;
    use crate::resolve::test_repo::{WORKER, run, service, target};

    use crate::flags::flag;

    #[test]
    fn defaults_are_on_for_everyone_and_the_override_wins_setting_by_setting() {
        let t = target(
            WORKER,
            &service(
                "flags:\n  a: {}\n  b: { rollout_percentage: 25, teams: [beta] }\noverrides:\n  dev:\n    flags: { b: { rollout_percentage: 5 } }\n",
            ),
        );
        assert_eq!(t.values.flags["a"], flag(true, 100, &[]));
        assert_eq!(t.values.flags["b"], flag(true, 5, &["beta"]));
        assert_eq!(t.origins["flags.b.rollout_percentage"].level, "overrides.dev");
        assert_eq!(t.origins["flags.b.teams"].level, "service");
    }

    #[test]
    fn a_flag_outside_its_environments_is_absent_and_an_override_of_it_an_error() {
        let t = target(WORKER, &service("flags:\n  a: { environments: [dev] }\n"));
        assert!(t.values.flags.contains_key("a"));
        let (_, diags) = run(WORKER, &service("flags:\n  a: { environments: [prod] }\n"));
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].pos, Pos::new(8, 23));
        assert_eq!(
            diags[0].message,
            "flag `a` lists environment `prod`, which service `s` does not deploy to"
        );
        // `environments: []` parks a flag; an override of it is a mistake.
        let (_, diags) = run(
            WORKER,
            &service("flags:\n  a: { environments: [] }\noverrides:\n  dev:\n    flags: { a: { enabled: false } }\n"),
        );
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].pos, Pos::new(11, 14));
        assert_eq!(
            diags[0].message,
            "overrides.dev sets flag `a`, which does not exist in `dev`"
        );
    }
}
