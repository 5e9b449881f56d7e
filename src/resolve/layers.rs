//! The layers a target's values are folded from, lowest first (SPEC §1):
//! archetype defaults → profile defaults → size → service → `overrides.<env>`.
//!
//! The profile, service and override are catalog `Layer`s that may set any
//! service field, so they form one stack and the last one that sets a field
//! wins. The archetype contributes defaults (port, params) below them all; the
//! size is its own layer between the profile and the service: it sets
//! replicas, resources and autoscaling, and only the layers above it override
//! what it sets.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::blueprint::{Blueprint, Blueprints, Kind};
use crate::catalog::reader::Spanned;
use crate::catalog::{Catalog, Layer, Profile, Service, Size};
use crate::diagnostic::{Diagnostic, Pos};
use crate::resolve::lookup::{check_component, check_size};
use crate::resolve::provenance::{Origin, Origins, Provenance};
use crate::resolve::target::{Autoscaling, Image, Owners, Resources, Values};

/// What one service's resolution reads from.
pub(crate) struct Scope<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) blueprints: &'a Blueprints,
    pub(crate) profile: &'a Profile,
    pub(crate) archetype: &'a Blueprint,
    pub(crate) service: &'a Service,
    pub(crate) provenance: Provenance,
}

/// A catalog layer: its values and how `explain` names it.
pub(crate) struct Level<'a> {
    pub(super) file: &'a str,
    pub(super) name: String,
    pub(super) layer: &'a Layer,
    /// Whether it sits above the size (the service and its override do).
    above_size: bool,
}

impl Level<'_> {
    pub(super) fn origin(&self, pos: Pos) -> Origin {
        Origin::new(self.file, pos, self.name.clone())
    }
}

/// The catalog layers of one environment, lowest first: the profile's
/// defaults, the service, and its override for the environment if any.
pub(crate) struct Layers<'a> {
    levels: Vec<Level<'a>>,
}

impl<'a> Layers<'a> {
    pub(crate) fn for_env(scope: &Scope<'a>, env: &str, override_layer: Option<&'a Layer>) -> Layers<'a> {
        let file = scope.service.file.as_str();
        let mut levels = vec![
            Level {
                file: scope.catalog.profiles.file,
                name: format!("profile {}", scope.profile.name.value),
                layer: &scope.profile.defaults,
                above_size: false,
            },
            Level {
                file,
                name: "service".into(),
                layer: &scope.service.layer,
                above_size: true,
            },
        ];
        if let Some(layer) = override_layer {
            levels.push(Level {
                file,
                name: format!("overrides.{env}"),
                layer,
                above_size: true,
            });
        }
        Layers { levels }
    }

    pub(super) fn levels(&self) -> &[Level<'a>] {
        &self.levels
    }

    /// The `rollout` blocks of the levels that write one, lowest first.
    pub(crate) fn rollout_levels(&self) -> Vec<crate::resolve::rollout::RolloutLevel<'_>> {
        self.levels
            .iter()
            .filter_map(|l| {
                l.layer
                    .rollout
                    .as_ref()
                    .map(|layer| crate::resolve::rollout::RolloutLevel {
                        file: l.file,
                        name: &l.name,
                        layer,
                    })
            })
            .collect()
    }

    /// The layers that override what the size sets.
    fn above_size(&self) -> &[Level<'a>] {
        let first = self
            .levels
            .iter()
            .position(|l| l.above_size)
            .unwrap_or(self.levels.len());
        &self.levels[first..]
    }
}

impl<'a> Level<'a> {
    /// The level's file, name and values, for the fold functions of the
    /// blocks that have a module of their own (`flags`).
    pub(crate) fn parts(&self) -> (&'a str, &str, &'a Layer) {
        (self.file, &self.name, self.layer)
    }
}

/// The value of the last level that sets `field`, with the file it is set in;
/// notes its origin under `key`.
pub(super) fn last<'a, T: Clone + 'a>(
    levels: &[Level<'a>],
    key: &str,
    field: impl Fn(&'a Layer) -> &'a Option<Spanned<T>>,
    origins: &mut Origins,
) -> Option<(Spanned<T>, &'a str)> {
    let (level, value) = levels
        .iter()
        .rev()
        .find_map(|level| field(level.layer).as_ref().map(|v| (level, v)))?;
    origins.note(key, || level.origin(value.pos));
    Some((value.clone(), level.file))
}

/// Folds the layers of one environment into the values its regions share
/// (region, namespace, cluster and owners are filled in per region). `None`
/// when a problem was reported, or the service depends on a broken shared
/// entry whose error is reported in its own file.
pub(crate) fn fold(scope: &Scope, layers: &Layers, diags: &mut Vec<Diagnostic>) -> Option<(Values, Origins)> {
    let Scope {
        profile,
        archetype,
        service,
        ..
    } = *scope;
    let levels = &layers.levels;
    let before = diags.len();
    let mut origins = Origins::new(scope.provenance);
    note_choices(scope, &mut origins);
    let size = size(scope, levels, &mut origins, diags);
    let port = port(scope, levels, &mut origins, diags);
    let schedule = schedule(scope, levels, &mut origins, diags);
    let image = image(scope, levels, &mut origins, diags);
    let components = components(scope, levels, &mut origins, diags)?;
    let params = params(scope, levels, &components, &mut origins, diags);
    let env = env(levels, &mut origins);
    let (size, named) = size?;
    let hpa = components.iter().any(|c| c == "hpa");
    let sizing = apply_size(scope, size, &named, layers.above_size(), hpa, &mut origins, diags);
    if diags.len() > before {
        return None;
    }
    let values = Values {
        service: service.name.value.clone(),
        environment: String::new(),
        region: String::new(),
        namespace: String::new(),
        cluster: String::new(),
        approval: "",
        profile: profile.name.value.clone(),
        archetype: archetype.name.clone(),
        size: size.name.value.clone(),
        owners: Owners {
            team: String::new(),
            github: String::new(),
            slack: None,
            oncall: None,
        },
        image: image?,
        port,
        schedule: schedule.map(|s| s.value),
        replicas: sizing.replicas,
        resources: sizing.resources,
        autoscaling: sizing.autoscaling,
        env,
        components,
        params,
        selector: BTreeMap::from([("app.kubernetes.io/name".to_string(), service.name.value.clone())]),
        migration: None,
        alerts: None,
        rollout: None,
        flags: BTreeMap::new(),
    };
    Some((values, origins))
}

/// Notes where the service's choices of profile, team and archetype are made.
fn note_choices(scope: &Scope, origins: &mut Origins) {
    let Scope {
        catalog,
        profile,
        service,
        ..
    } = *scope;
    let file = service.file.as_str();
    origins.note("profile", || Origin::new(file, service.profile.pos, "service"));
    origins.note("owners.team", || Origin::new(file, service.owners.team.pos, "service"));
    origins.note("archetype", || {
        Origin::new(
            catalog.profiles.file,
            profile.archetype.pos,
            format!("profile {}", profile.name.value),
        )
    });
}

/// The size the last level names, with that name and the file it is in;
/// `None` when no level names one, or it is missing (both reported) or broken.
fn size<'a>(
    scope: &Scope<'a>,
    levels: &[Level<'a>],
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> Option<(&'a Size, (Spanned<String>, &'a str))> {
    let Some((name, from)) = last(levels, "size", |l| &l.size, origins) else {
        diags.push(
            Diagnostic::new(&scope.service.file, scope.service.name.pos, "no size is set")
                .with_hint("add `size:` to the service"),
        );
        return None;
    };
    let size = check_size(scope.catalog, &name, from, diags)?;
    Some((size, (name, from)))
}

/// The archetype's default port, unless a level sets one.
fn port(scope: &Scope, levels: &[Level], origins: &mut Origins, diags: &mut Vec<Diagnostic>) -> Option<i64> {
    let archetype = scope.archetype;
    let mut port = archetype.default_port.map(|(p, pos)| {
        origins.note("port", || Origin::new(&archetype.decl_file, pos, "archetype default"));
        p
    });
    if let Some((p, _)) = last(levels, "port", |l| &l.port, origins) {
        port = Some(p.value);
    }
    if archetype.requires("port") && port.is_none() {
        diags.push(Diagnostic::new(
            &scope.service.file,
            scope.service.name.pos,
            format!("archetype `{}` needs a `port`", archetype.name),
        ));
    }
    port
}

/// The schedule, which archetypes that run on one need and others refuse.
fn schedule(
    scope: &Scope,
    levels: &[Level],
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> Option<Spanned<String>> {
    let archetype = scope.archetype;
    let schedule = last(levels, "schedule", |l| &l.schedule, origins);
    match &schedule {
        None if archetype.requires("schedule") => diags.push(
            Diagnostic::new(
                &scope.service.file,
                scope.service.name.pos,
                format!("archetype `{}` needs a `schedule`", archetype.name),
            )
            .with_hint("add a cron schedule, e.g. `schedule: \"0 2 * * *\"`"),
        ),
        Some((s, from)) if !archetype.requires("schedule") => diags.push(
            Diagnostic::new(
                *from,
                s.pos,
                format!(
                    "`schedule` is only for archetypes that run on a schedule; profile `{}` uses archetype `{}`",
                    scope.profile.name.value, archetype.name
                ),
            )
            .with_hint("remove `schedule`, or use a profile with the cronjob archetype"),
        ),
        _ => {}
    }
    schedule.map(|(s, _)| s)
}

/// The image, whose repository and tag some level must set.
fn image(scope: &Scope, levels: &[Level], origins: &mut Origins, diags: &mut Vec<Diagnostic>) -> Option<Image> {
    let repository = last(levels, "image.repository", |l| &l.image_repository, origins);
    let tag = last(levels, "image.tag", |l| &l.image_tag, origins);
    for (missing, key) in [(repository.is_none(), "image.repository"), (tag.is_none(), "image.tag")] {
        if missing {
            diags.push(Diagnostic::new(
                &scope.service.file,
                scope.service.name.pos,
                format!("the service is missing the required key `{key}`"),
            ));
        }
    }
    let (repository, tag) = (repository?.0.value, tag?.0.value);
    let digest = digest(levels, origins);
    let reference = match &digest {
        Some(digest) => format!("{repository}:{tag}@{digest}"),
        None => format!("{repository}:{tag}"),
    };
    Some(Image {
        reference,
        repository,
        tag,
        digest,
    })
}

/// The digest of the level that sets the tag, or of one above it: a level
/// that sets a tag without a digest drops the digest inherited from below
/// (SPEC §4), so a new tag never stands beside an old digest.
fn digest(levels: &[Level], origins: &mut Origins) -> Option<String> {
    let tag_level = levels.iter().rposition(|l| l.layer.image_tag.is_some()).unwrap_or(0);
    let (level, digest) = levels[tag_level..]
        .iter()
        .rev()
        .find_map(|level| level.layer.image_digest.as_ref().map(|d| (level, d)))?;
    origins.note("image.digest", || level.origin(digest.pos));
    Some(digest.value.clone())
}

/// The enabled components, sorted: the always-on ones and the profile's, then
/// each level adds (`name`) or removes (`-name`) in order. `None` when one is
/// broken: it is reported at its own files, and leaving it out would silently
/// drop its objects, so the service fails and keeps its output.
fn components(
    scope: &Scope,
    levels: &[Level],
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let Scope {
        catalog,
        blueprints,
        profile,
        archetype,
        ..
    } = *scope;
    let mut components = BTreeSet::new();
    for always in blueprints.components.values().filter(|c| c.always) {
        components.insert(always.name.clone());
        origins.note(format_args!("components.{}", always.name), || {
            Origin::new(&always.decl_file, Pos::START, "always on")
        });
    }
    for c in &profile.components {
        components.insert(c.value.clone());
        origins.note(format_args!("components.{}", c.value), || {
            Origin::new(catalog.profiles.file, c.pos, format!("profile {}", profile.name.value))
        });
    }
    for level in levels {
        for c in &level.layer.components {
            let Some(name) = c.value.strip_prefix('-') else {
                if level.name.starts_with("overrides.") {
                    check_component(blueprints, archetype, c, level.file, diags);
                }
                components.insert(c.value.clone());
                origins.note(format_args!("components.{}", c.value), || level.origin(c.pos));
                continue;
            };
            if blueprints.components.get(name).is_some_and(|b| b.always) {
                diags.push(Diagnostic::new(
                    level.file,
                    c.pos,
                    format!("component `{name}` is always on and cannot be removed"),
                ));
            } else if !components.remove(name) && blueprints.components.contains_key(name) {
                diags.push(Diagnostic::new(
                    level.file,
                    c.pos,
                    format!("component `{name}` is not enabled here, so it cannot be removed"),
                ));
            }
            origins.note(format_args!("components.{name}"), || level.origin(c.pos));
        }
    }
    if components.iter().any(|c| blueprints.is_broken(Kind::Component, c)) {
        return None;
    }
    Some(
        components
            .into_iter()
            .filter(|c| blueprints.components.contains_key(c))
            .collect(),
    )
}

/// Params: the archetype's and enabled components' declared defaults, then
/// each level's values, checked against their declared type and bounds.
fn params(
    scope: &Scope,
    levels: &[Level],
    components: &[String],
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Value> {
    let (blueprints, archetype) = (scope.blueprints, scope.archetype);
    let mut declared = BTreeMap::new();
    for blueprint in std::iter::once(archetype).chain(components.iter().filter_map(|c| blueprints.components.get(c))) {
        for p in &blueprint.params {
            declared.insert(p.name.clone(), (p, blueprint));
            origins.note(format_args!("params.{}", p.name), || {
                Origin::new(
                    &blueprint.decl_file,
                    p.pos,
                    format!("{} default", blueprint.kind.noun()),
                )
            });
        }
    }
    let mut params: BTreeMap<String, Value> = declared
        .iter()
        .map(|(k, (p, _))| (k.clone(), p.default.clone()))
        .collect();
    for level in levels {
        for (key, value) in &level.layer.params {
            let problem = match declared.get(&key.value) {
                None => Diagnostic::new(
                    level.file,
                    key.pos,
                    format!(
                        "param `{}` is not declared by archetype `{}` or an enabled component",
                        key.value, archetype.name
                    ),
                )
                .suggest(&key.value, declared.keys().map(String::as_str)),
                Some((p, _)) if !p.ty.accepts(&value.value) => Diagnostic::new(
                    level.file,
                    value.pos,
                    format!("param `{}` must be {}, found `{}`", key.value, p.ty.name(), value.value),
                ),
                // Kubernetes would take the value, but it cannot be meant
                // (a PDB with `maxUnavailable: 0` blocks every drain).
                Some((p, blueprint)) => match p.out_of_bounds(&value.value) {
                    Some(problem) => Diagnostic::new(level.file, value.pos, format!("param `{}` {problem}", key.value))
                        .with_hint(format!(
                            "{} `{}` declares its bounds at `{}:{}`",
                            blueprint.kind.noun(),
                            blueprint.name,
                            blueprint.decl_file,
                            p.pos.line
                        )),
                    None => {
                        params.insert(key.value.clone(), value.value.clone());
                        origins.note(format_args!("params.{}", key.value), || level.origin(value.pos));
                        continue;
                    }
                },
            };
            diags.push(problem);
        }
    }
    params
}

/// The container environment: each level's entries merged over the lower ones'.
fn env(levels: &[Level], origins: &mut Origins) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for level in levels {
        for (key, value) in &level.layer.env {
            env.insert(key.value.clone(), value.value.clone());
            origins.note(format_args!("env.{}", key.value), || level.origin(value.pos));
        }
    }
    env
}

/// What the size layer sets, after the layers above it.
struct Sizing {
    /// Unset when the hpa component manages the replica count.
    replicas: Option<i64>,
    resources: Resources,
    autoscaling: Option<Autoscaling>,
}

/// The size layer: its replicas, resources and autoscaling, with a replica
/// count from a layer above it (the service or its override) winning, and
/// acting as the autoscaler's floor. A profile's replicas sit below the size,
/// and a size always sets replicas, so a profile's never shows. The hpa
/// component needs the size's autoscaling.
fn apply_size(
    scope: &Scope,
    size: &Size,
    (name, named_in): &(Spanned<String>, &str),
    above_size: &[Level],
    hpa: bool,
    origins: &mut Origins,
    diags: &mut Vec<Diagnostic>,
) -> Sizing {
    let sizes_file = scope.catalog.sizes.file;
    let size_origin = |what: &str, pos: Pos| Origin::new(sizes_file, pos, format!("size {} ({what})", size.name.value));
    origins.note("replicas", || size_origin("replicas", size.replicas.pos));
    let replicas_set = last(above_size, "replicas", |l| &l.replicas, origins).map(|(r, _)| r.value);
    let replicas = replicas_set.unwrap_or(size.replicas.value);
    let mut resources = Resources::default();
    for (kind, res, map) in [
        ("requests", &size.requests, &mut resources.requests),
        ("limits", &size.limits, &mut resources.limits),
    ] {
        for (key, q) in [("cpu", &res.cpu), ("memory", &res.memory)] {
            if let Some(q) = q {
                map.insert(key.to_string(), q.value.clone());
                origins.note(format_args!("resources.{kind}.{key}"), || size_origin(kind, q.pos));
            }
        }
    }
    let autoscaling = size.autoscaling.as_ref().map(|a| {
        origins.note("autoscaling", || size_origin("autoscaling", a.min.pos));
        let mut scaling = Autoscaling {
            min: a.min.value,
            max: a.max.value,
            cpu_utilization: a.cpu_utilization.value,
        };
        // An explicit replica count under an autoscaler is its floor.
        if let Some(r) = replicas_set {
            scaling.min = r.max(1);
            scaling.max = scaling.max.max(scaling.min);
            if let Some(replicas_origin) = origins.get("replicas").cloned() {
                origins.note("autoscaling.min", || replicas_origin);
            }
        }
        scaling
    });
    if hpa && autoscaling.is_none() {
        diags.push(
            Diagnostic::new(
                *named_in,
                name.pos,
                format!(
                    "size `{}` has no `autoscaling`, which the hpa component needs",
                    size.name.value
                ),
            )
            .with_hint(
                "add `autoscaling: { min, max, cpu_utilization }` to the size, or remove hpa with `components: [-hpa]`",
            ),
        );
    }
    Sizing {
        replicas: (!hpa).then_some(replicas),
        resources,
        autoscaling,
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::Pos;
    use crate::resolve::Target;
    use crate::resolve::test_repo::{WORKER, run, service, target};

    /// What the size sets, as one comparable row: replicas, requests and
    /// limits (`cpu/memory`), autoscaling `(min, max, cpu_utilization)`.
    type Sized = (Option<i64>, String, String, Option<(i64, i64, i64)>);

    fn sized(t: &Target) -> Sized {
        let v = &t.values;
        let pair = |m: &std::collections::BTreeMap<String, String>| format!("{}/{}", m["cpu"], m["memory"]);
        (
            v.replicas,
            pair(&v.resources.requests),
            pair(&v.resources.limits),
            v.autoscaling.as_ref().map(|a| (a.min, a.max, a.cpu_utilization)),
        )
    }

    /// The target of service `s` under a worker profile with `defaults`, and
    /// under the same profile with the hpa component.
    fn plain_and_hpa(defaults: &str, extra: &str) -> (Target, Target) {
        let profiles = |components: &str| {
            format!(
                "profiles:\n  p:\n    archetype: worker\n    components: [{components}]\n    defaults: {{ {defaults} }}\n"
            )
        };
        let file = service(extra);
        (target(&profiles(""), &file), target(&profiles("hpa"), &file))
    }

    const SMALL: (&str, &str) = ("100m/128Mi", "200m/256Mi");
    const LARGE: (&str, &str) = ("500m/512Mi", "1/1Gi");

    fn row(replicas: Option<i64>, (requests, limits): (&str, &str), autoscaling: (i64, i64, i64)) -> Sized {
        (replicas, requests.into(), limits.into(), Some(autoscaling))
    }

    // Precedence, one test per pair (SPEC §1: archetype → profile → size →
    // service → override), each checking every field the size sets.

    #[test]
    fn the_size_beats_the_profile_defaults() {
        let (plain, hpa) = plain_and_hpa("replicas: 9, port: 9000", "");
        assert_eq!(sized(&plain), row(Some(2), SMALL, (2, 4, 70)));
        assert_eq!(plain.origins["replicas"].level, "size small (replicas)");
        // The profile's replica count is below the size, so it is no floor.
        assert_eq!(sized(&hpa), row(None, SMALL, (2, 4, 70)));
        assert!(!hpa.origins.contains_key("autoscaling.min"));
        // A profile cannot set what only the size sets.
        let (_, diags) = run(
            "profiles:\n  p:\n    archetype: worker\n    defaults: { resources: { requests: { cpu: 1 } } }\n",
            &service(""),
        );
        assert!(diags.iter().any(|d| d.file == "catalog/profiles.yaml"), "{diags:#?}");
    }

    #[test]
    fn the_service_beats_the_size() {
        let (plain, hpa) = plain_and_hpa("replicas: 9", "replicas: 7\n");
        assert_eq!(sized(&plain), row(Some(7), SMALL, (7, 7, 70)));
        assert_eq!(plain.origins["replicas"].level, "service");
        // An explicit replica count is the autoscaler's floor.
        assert_eq!(sized(&hpa), row(None, SMALL, (7, 7, 70)));
        assert_eq!(hpa.origins["autoscaling.min"].level, "service");
    }

    #[test]
    fn the_override_beats_the_service() {
        let (plain, hpa) = plain_and_hpa("replicas: 9", "replicas: 7\noverrides:\n  dev: { replicas: 3 }\n");
        assert_eq!(sized(&plain), row(Some(3), SMALL, (3, 4, 70)));
        assert_eq!(plain.origins["replicas"].level, "overrides.dev");
        assert_eq!(sized(&hpa), row(None, SMALL, (3, 4, 70)));
        assert_eq!(hpa.origins["autoscaling.min"].level, "overrides.dev");
    }

    #[test]
    fn the_service_size_beats_the_profile_default_size() {
        let (plain, hpa) = plain_and_hpa("size: large", "");
        assert_eq!(plain.values.size, "small");
        assert_eq!(sized(&plain), row(Some(2), SMALL, (2, 4, 70)));
        assert_eq!(sized(&hpa), row(None, SMALL, (2, 4, 70)));
        assert_eq!(plain.origins["size"].level, "service");
    }

    #[test]
    fn the_override_size_beats_the_service_size_for_every_field_it_sets() {
        let (plain, hpa) = plain_and_hpa("replicas: 9", "overrides:\n  dev: { size: large }\n");
        assert_eq!(plain.values.size, "large");
        assert_eq!(sized(&plain), row(Some(5), LARGE, (5, 9, 80)));
        assert_eq!(plain.origins["replicas"].level, "size large (replicas)");
        assert_eq!(plain.origins["resources.limits.cpu"].level, "size large (limits)");
        assert_eq!(sized(&hpa), row(None, LARGE, (5, 9, 80)));
        // The service's replica count still beats the override's size, and
        // is the floor of its autoscaler.
        let (plain, _) = plain_and_hpa("", "replicas: 7\noverrides:\n  dev: { size: large }\n");
        assert_eq!(sized(&plain), row(Some(7), LARGE, (7, 9, 80)));
    }

    #[test]
    fn the_profile_beats_the_archetype_and_the_service_beats_the_profile() {
        let api = "profiles:\n  p: { archetype: api }\n  q:\n    archetype: api\n    defaults: { port: 9000 }\n";
        let t = target(api, &service(""));
        assert_eq!(t.values.port, Some(8080));
        assert_eq!(t.origins["port"].level, "archetype default");
        let profiled = service("").replace("profile: p", "profile: q");
        assert_eq!(target(api, &profiled).values.port, Some(9000));
        assert_eq!(target(api, &format!("{profiled}port: 7000\n")).values.port, Some(7000));
    }

    #[test]
    fn env_merges_with_the_override_winning() {
        let t = target(
            WORKER,
            &service("env: { A: one, B: two }\noverrides:\n  dev: { env: { B: three } }\n"),
        );
        let env: Vec<_> = t.values.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("A", "one"), ("B", "three")]);
        assert_eq!(t.origins["env.A"].level, "service");
        assert_eq!(t.origins["env.B"].level, "overrides.dev");
    }

    #[test]
    fn a_param_outside_its_bounds_is_an_error_where_it_is_set() {
        let pdb = "profiles:\n  p:\n    archetype: worker\n    components: [pdb]\n";
        let (targets, diags) = run(pdb, &service("params:\n  max_unavailable: 0\n"));
        assert!(targets.is_empty());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].file, "catalog/services/s.yaml");
        assert_eq!(diags[0].pos, Pos::new(8, 20));
        assert_eq!(diags[0].message, "param `max_unavailable` is 0, below the minimum 1");
        // In the profile's defaults, the error is in profiles.yaml.
        let defaults = "profiles:\n  p:\n    archetype: worker\n    components: [pdb]\n    defaults: { params: { max_unavailable: -1 } }\n";
        let (_, diags) = run(defaults, &service(""));
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].file, "catalog/profiles.yaml");
        assert_eq!(diags[0].pos.line, 5);
    }

    #[test]
    fn a_hundred_thousand_env_entries_resolve() {
        // Quadratic handling took 48 s here; run time is printed, not asserted.
        const N: usize = 100_000;
        let mut file = service("env:\n");
        for i in 0..N {
            file.push_str(&format!("  K{i}: v{i}\n"));
        }
        let start = std::time::Instant::now();
        let t = target(WORKER, &file);
        assert_eq!(t.values.env.len(), N);
        eprintln!("{N} env entries parsed and resolved in {:?}", start.elapsed());
    }
}
