//! Stage two: catalog + blueprints into one fully resolved target per
//! (service, environment, region), checking every cross-file reference.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::blueprint::{Blueprint, Blueprints, Kind};
use crate::catalog::reader::Spanned;
use crate::catalog::{Approval, Catalog, Layer, Lookup, Profile, Service, Size};
use crate::diagnostic::{Diagnostic, Pos};

/// The values a target's templates see (documented in the README).
#[derive(Clone, Debug, Serialize)]
pub struct Values {
    pub service: String,
    pub environment: String,
    pub region: String,
    pub namespace: String,
    pub cluster: String,
    pub approval: &'static str,
    pub profile: String,
    pub archetype: String,
    pub size: String,
    pub owners: Owners,
    pub image: Image,
    pub port: Option<i64>,
    pub schedule: Option<String>,
    /// Unset when the hpa component manages the replica count.
    pub replicas: Option<i64>,
    pub resources: Resources,
    pub autoscaling: Option<Autoscaling>,
    pub env: BTreeMap<String, String>,
    pub components: Vec<String>,
    pub params: BTreeMap<String, Value>,
    /// Labels that select the target's pods.
    pub selector: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Owners {
    pub team: String,
    pub github: String,
    pub slack: Option<String>,
    pub oncall: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Image {
    pub repository: String,
    pub tag: String,
    #[serde(rename = "ref")]
    pub reference: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Resources {
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Autoscaling {
    pub min: i64,
    pub max: i64,
    pub cpu_utilization: i64,
}

/// Where a resolved value was set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    /// `archetype default`, `profile public-api`, `size medium`, `service`, `overrides.prod`.
    pub level: String,
}

#[derive(Clone, Debug)]
pub struct Target {
    pub service: String,
    pub env: String,
    pub region: String,
    pub service_file: String,
    pub approval: Approval,
    pub archetype: String,
    /// Enabled components, sorted by name.
    pub components: Vec<String>,
    pub values: Values,
    /// Resolved value name → where it came from, for `explain`.
    pub origins: BTreeMap<String, Origin>,
}

impl Target {
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.service, self.env, self.region)
    }

    pub fn dir(&self) -> String {
        format!("generated/{}/{}/{}", self.service, self.env, self.region)
    }
}

pub struct Resolved {
    pub targets: Vec<Target>,
    /// Services whose targets could not be resolved; their output is kept.
    pub failed_services: BTreeSet<String>,
    /// Services the caller said to skip.
    pub skipped: Vec<String>,
}

/// Whether to record where each value came from (only `explain` needs it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    Record,
    Skip,
}

/// Records an origin only when provenance is wanted, without building it otherwise.
macro_rules! note {
    ($origins:expr, $key:expr, $origin:expr $(,)?) => {
        if let Some(map) = $origins.as_mut() {
            map.insert(String::from($key), $origin);
        }
    };
}

/// Checks shared files' references once, then resolves every service on its own.
/// `skip` names services whose output is known to be current; they are not
/// resolved and come back in `Resolved::skipped`.
pub fn resolve(
    catalog: &Catalog,
    blueprints: &Blueprints,
    provenance: Provenance,
    skip: &(dyn Fn(&Service) -> bool + Sync),
) -> (Resolved, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let broken_profiles = check_profiles(catalog, blueprints, &mut diags);
    let per_service: Vec<_> = catalog
        .services
        .par_iter()
        .map(|service| {
            if skip(service) {
                return (None, Vec::new(), true);
            }
            let mut service_diags = Vec::new();
            let targets = resolve_service(
                catalog,
                blueprints,
                &broken_profiles,
                service,
                provenance,
                &mut service_diags,
            );
            (targets.filter(|_| service_diags.is_empty()), service_diags, false)
        })
        .collect();
    let mut targets = Vec::new();
    let mut failed_services: BTreeSet<String> = catalog.broken_services.clone();
    let mut skipped = Vec::new();
    for (service, (resolved, mut service_diags, was_skipped)) in catalog.services.iter().zip(per_service) {
        match resolved {
            Some(mut t) => targets.append(&mut t),
            None if was_skipped => skipped.push(service.name.value.clone()),
            None => {
                failed_services.insert(service.name.value.clone());
            }
        }
        diags.append(&mut service_diags);
    }
    diags.sort_by(|a, b| (&a.file, a.pos, &a.message).cmp(&(&b.file, b.pos, &b.message)));
    diags.dedup();
    (
        Resolved {
            targets,
            failed_services,
            skipped,
        },
        diags,
    )
}

fn check_profiles(catalog: &Catalog, blueprints: &Blueprints, diags: &mut Vec<Diagnostic>) -> BTreeSet<String> {
    let mut broken = catalog.profiles.broken.clone();
    let file = catalog.profiles.file;
    for profile in &catalog.profiles.items {
        let before = diags.len();
        let name = &profile.archetype.value;
        match blueprints.archetypes.get(name) {
            Some(archetype) => {
                for component in &profile.components {
                    check_component(blueprints, archetype, component, file, diags);
                }
            }
            None if blueprints.is_broken(Kind::Archetype, name) => {
                broken.insert(profile.name.value.clone());
            }
            None => diags.push(
                Diagnostic::new(
                    file,
                    profile.archetype.pos,
                    format!("archetype `{name}` is not in `archetypes/`"),
                )
                .suggest(name, blueprints.names(Kind::Archetype)),
            ),
        }
        if let Some(size) = &profile.defaults.size {
            check_size(catalog, size, file, diags);
        }
        if diags.len() > before {
            broken.insert(profile.name.value.clone());
        }
    }
    broken
}

fn check_size<'c>(
    catalog: &'c Catalog,
    size: &Spanned<String>,
    file: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'c Size> {
    match catalog.sizes.lookup(&size.value) {
        Lookup::Found(s) => Some(s),
        Lookup::Broken => None,
        Lookup::Missing => {
            diags.push(
                Diagnostic::new(
                    file,
                    size.pos,
                    format!("size `{}` is not in `{}`", size.value, catalog.sizes.file),
                )
                .suggest(&size.value, catalog.sizes.names()),
            );
            None
        }
    }
}

/// Checks a component name (without its `-`) exists and fits the archetype.
fn check_component<'b>(
    blueprints: &'b Blueprints,
    archetype: &Blueprint,
    name: &Spanned<String>,
    file: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'b Blueprint> {
    let bare = name.value.strip_prefix('-').unwrap_or(&name.value);
    match blueprints.components.get(bare) {
        // An `applies-to` naming no archetype is a typo in the component's
        // declaration, reported at its line there, not here.
        Some(c)
            if c.applies_to
                .iter()
                .any(|a| !blueprints.archetypes.contains_key(a) && !blueprints.is_broken(Kind::Archetype, a)) =>
        {
            None
        }
        Some(c) if !c.applies_to.is_empty() && !c.applies_to.contains(&archetype.name) => {
            diags.push(
                Diagnostic::new(
                    file,
                    name.pos,
                    format!("component `{bare}` does not apply to archetype `{}`", archetype.name),
                )
                .with_hint(format!("`{bare}` applies to: {}", c.applies_to.join(", "))),
            );
            None
        }
        Some(c) => Some(c),
        None if blueprints.is_broken(Kind::Component, bare) => None,
        None => {
            diags.push(
                Diagnostic::new(file, name.pos, format!("component `{bare}` is not in `components/`"))
                    .suggest(bare, blueprints.names(Kind::Component)),
            );
            None
        }
    }
}

/// The longest CronJob name Kubernetes accepts (63 minus the Job suffix).
const MAX_CRONJOB_NAME: usize = 52;

/// A resolution layer: its values and how `explain` names it.
struct Level<'a> {
    file: &'a str,
    name: String,
    layer: &'a Layer,
    /// The size sits between the profile and the service (SPEC §1): what a
    /// level below it sets, the size's own values override.
    beats_size: bool,
}

fn resolve_service(
    catalog: &Catalog,
    blueprints: &Blueprints,
    broken_profiles: &BTreeSet<String>,
    service: &Service,
    provenance: Provenance,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<Target>> {
    let file = service.file.as_str();
    let profile: &Profile = match catalog.profiles.lookup(&service.profile.value) {
        Lookup::Found(p) if !broken_profiles.contains(&p.name.value) => p,
        Lookup::Found(_) | Lookup::Broken => return None,
        Lookup::Missing => {
            diags.push(
                Diagnostic::new(
                    file,
                    service.profile.pos,
                    format!(
                        "profile `{}` is not in `{}`",
                        service.profile.value, catalog.profiles.file
                    ),
                )
                .suggest(&service.profile.value, catalog.profiles.names()),
            );
            return None;
        }
    };
    let archetype = blueprints.archetypes.get(&profile.archetype.value)?;
    // A scheduled archetype's CronJob is named after the service, and the
    // CronJob controller appends 11 characters to name its Jobs.
    if archetype.requires("schedule") && service.name.value.len() > MAX_CRONJOB_NAME {
        diags.push(
            Diagnostic::new(
                file,
                service.name.pos,
                format!(
                    "CronJob name `{}` is {} characters long; Kubernetes allows {MAX_CRONJOB_NAME}",
                    service.name.value,
                    service.name.value.len()
                ),
            )
            .with_hint(format!(
                "archetype `{}` names its CronJob after the service: shorten the service name",
                archetype.name
            )),
        );
    }

    let team = match catalog.teams.lookup(&service.owners.team.value) {
        Lookup::Found(t) => Some(t),
        Lookup::Broken => None,
        Lookup::Missing => {
            diags.push(
                Diagnostic::new(
                    file,
                    service.owners.team.pos,
                    format!(
                        "team `{}` is not in `{}`",
                        service.owners.team.value, catalog.teams.file
                    ),
                )
                .suggest(&service.owners.team.value, catalog.teams.names()),
            );
            None
        }
    };

    // Set when the service depends on a shared entry that is broken (its
    // error is reported there): the service fails and keeps its output, so a
    // typo in a shared file never removes targets.
    let mut depends_on_broken = false;
    let mut seen = BTreeSet::new();
    let mut environments = Vec::new();
    for env in &service.environments {
        if !seen.insert(env.value.as_str()) {
            diags.push(Diagnostic::new(
                file,
                env.pos,
                format!("environment `{}` is listed twice", env.value),
            ));
            continue;
        }
        match catalog.environments.lookup(&env.value) {
            Lookup::Found(e) => environments.push(e),
            Lookup::Broken => depends_on_broken = true,
            Lookup::Missing => diags.push(
                Diagnostic::new(
                    file,
                    env.pos,
                    format!("environment `{}` is not in `{}`", env.value, catalog.environments.file),
                )
                .suggest(&env.value, catalog.environments.names()),
            ),
        }
    }
    for (env, _) in &service.overrides {
        if !seen.contains(env.value.as_str()) {
            diags.push(
                Diagnostic::new(
                    file,
                    env.pos,
                    format!(
                        "overrides for `{}`, which is not one of the service's environments",
                        env.value
                    ),
                )
                .suggest(&env.value, service.environments.iter().map(|e| e.value.as_str())),
            );
        }
    }
    for component in profile.components.iter().chain(&service.layer.components) {
        check_component(blueprints, archetype, component, file, diags);
    }
    let team = team?;

    let mut targets = Vec::new();
    for env in environments {
        let override_layer = service
            .overrides
            .iter()
            .find(|(e, _)| e.value == env.name.value)
            .map(|(_, l)| l);
        let mut levels = vec![
            Level {
                file: catalog.profiles.file,
                name: format!("profile {}", profile.name.value),
                layer: &profile.defaults,
                beats_size: false,
            },
            Level {
                file,
                name: "service".into(),
                layer: &service.layer,
                beats_size: true,
            },
        ];
        if let Some(layer) = override_layer {
            levels.push(Level {
                file,
                name: format!("overrides.{}", env.name.value),
                layer,
                beats_size: true,
            });
        }
        let scope = Scope {
            catalog,
            blueprints,
            profile,
            archetype,
            service,
            provenance,
        };
        let Some(common) = resolve_env(&scope, &levels, diags) else {
            depends_on_broken = true;
            continue;
        };
        let regions: Vec<&crate::catalog::Region> = match override_layer.and_then(|l| l.regions.as_ref()) {
            None => env.regions.iter().collect(),
            Some(wanted) => wanted
                .iter()
                .filter_map(|r| {
                    let found = env.regions.iter().find(|er| er.name.value == r.value);
                    if found.is_none() {
                        diags.push(
                            Diagnostic::new(
                                file,
                                r.pos,
                                format!(
                                    "region `{}` is not a region of environment `{}`",
                                    r.value, env.name.value
                                ),
                            )
                            .suggest(&r.value, env.regions.iter().map(|er| er.name.value.as_str())),
                        );
                    }
                    found
                })
                .collect(),
        };
        for region in regions {
            let namespace = format!("{}-{}-{}", env.name.value, service.name.value, region.name.value);
            if namespace.len() > 63 {
                diags.push(
                    Diagnostic::new(
                        file,
                        service.name.pos,
                        format!(
                            "namespace `{namespace}` is {} characters long; Kubernetes allows 63",
                            namespace.len()
                        ),
                    )
                    .with_hint("namespaces are `<env>-<service>-<region>`: shorten the service name"),
                );
                continue;
            }
            let (mut values, mut origins) = common.clone();
            values.environment = env.name.value.clone();
            values.region = region.name.value.clone();
            values.namespace = namespace;
            values.cluster = region.cluster.value.clone();
            values.approval = env.approval.as_str();
            if provenance == Provenance::Record {
                origins.insert(
                    "cluster".into(),
                    Origin {
                        file: catalog.environments.file.to_string(),
                        line: region.cluster.pos.line,
                        level: format!("environment {}", env.name.value),
                    },
                );
                origins.insert(
                    "approval".into(),
                    Origin {
                        file: catalog.environments.file.to_string(),
                        line: env.name.pos.line,
                        level: format!("environment {}", env.name.value),
                    },
                );
                origins.insert(
                    "region".into(),
                    Origin {
                        file: catalog.environments.file.to_string(),
                        line: region.name.pos.line,
                        level: format!("environment {}", env.name.value),
                    },
                );
                if let Some(listed) = service.environments.iter().find(|e| e.value == env.name.value) {
                    origins.insert(
                        "environment".into(),
                        Origin {
                            file: file.to_string(),
                            line: listed.pos.line,
                            level: "service".into(),
                        },
                    );
                }
                origins.insert(
                    "owners.github".into(),
                    Origin {
                        file: catalog.teams.file.to_string(),
                        line: team.github.pos.line,
                        level: format!("team {}", team.name.value),
                    },
                );
            }
            values.owners = Owners {
                team: team.name.value.clone(),
                github: team.github.value.clone(),
                slack: service
                    .owners
                    .slack
                    .as_ref()
                    .or(team.slack.as_ref())
                    .map(|s| s.value.clone()),
                oncall: service.owners.oncall.as_ref().map(|s| s.value.clone()),
            };
            targets.push(Target {
                service: service.name.value.clone(),
                env: env.name.value.clone(),
                region: region.name.value.clone(),
                service_file: service.file.clone(),
                approval: env.approval,
                archetype: archetype.name.clone(),
                components: values.components.clone(),
                values,
                origins,
            });
        }
    }
    (!depends_on_broken).then_some(targets)
}

/// Folds the levels of one environment into values shared by its regions.
/// What one service's resolution reads from.
struct Scope<'a> {
    catalog: &'a Catalog,
    blueprints: &'a Blueprints,
    profile: &'a Profile,
    archetype: &'a Blueprint,
    service: &'a Service,
    provenance: Provenance,
}

fn resolve_env(
    scope: &Scope,
    levels: &[Level],
    diags: &mut Vec<Diagnostic>,
) -> Option<(Values, BTreeMap<String, Origin>)> {
    let Scope {
        catalog,
        blueprints,
        profile,
        archetype,
        service,
        provenance,
    } = *scope;
    let before = diags.len();
    let file = service.file.as_str();
    let mut origins: Option<BTreeMap<String, Origin>> = (provenance == Provenance::Record).then(BTreeMap::new);
    let origin = |level: &Level, pos: Pos| Origin {
        file: level.file.to_string(),
        line: pos.line,
        level: level.name.clone(),
    };
    // The last level that sets a value wins.
    macro_rules! last {
        ($key:literal, $field:ident) => {
            last!($key, $field, levels)
        };
        ($key:literal, $field:ident, $levels:expr) => {{
            let mut found = None;
            for level in $levels.iter() {
                if let Some(v) = &level.layer.$field {
                    note!(origins, $key.to_string(), origin(level, v.pos));
                    found = Some((v.clone(), level.file));
                }
            }
            found
        }};
    }

    let service_origin = |pos: Pos| Origin {
        file: file.to_string(),
        line: pos.line,
        level: "service".into(),
    };
    note!(origins, "profile", service_origin(service.profile.pos));
    note!(origins, "owners.team", service_origin(service.owners.team.pos));
    note!(
        origins,
        "archetype",
        Origin {
            file: catalog.profiles.file.to_string(),
            line: profile.archetype.pos.line,
            level: format!("profile {}", profile.name.value),
        },
    );
    let size_name = last!("size", size);
    let size = match &size_name {
        Some((name, from)) => check_size(catalog, name, from, diags),
        None => {
            diags.push(
                Diagnostic::new(file, service.name.pos, "no size is set").with_hint("add `size:` to the service"),
            );
            None
        }
    };

    let mut port = archetype.default_port.map(|(p, pos)| {
        note!(
            origins,
            "port",
            Origin {
                file: archetype.decl_file.clone(),
                line: pos.line,
                level: "archetype default".into(),
            },
        );
        p
    });
    if let Some((p, _)) = last!("port", port) {
        port = Some(p.value);
    }
    if archetype.requires("port") && port.is_none() {
        diags.push(Diagnostic::new(
            file,
            service.name.pos,
            format!("archetype `{}` needs a `port`", archetype.name),
        ));
    }

    let schedule = last!("schedule", schedule);
    match &schedule {
        None if archetype.requires("schedule") => diags.push(
            Diagnostic::new(
                file,
                service.name.pos,
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
                    profile.name.value, archetype.name
                ),
            )
            .with_hint("remove `schedule`, or use a profile with the cronjob archetype"),
        ),
        _ => {}
    }

    let repository = last!("image.repository", image_repository);
    let tag = last!("image.tag", image_tag);
    if repository.is_none() {
        diags.push(Diagnostic::new(
            file,
            service.name.pos,
            "the service is missing the required key `image.repository`",
        ));
    }
    if tag.is_none() {
        diags.push(Diagnostic::new(
            file,
            service.name.pos,
            "the service is missing the required key `image.tag`",
        ));
    }

    // Components: the profile's and the always-on ones, then each level adds
    // (`name`) or removes (`-name`) in order.
    let mut components = BTreeSet::new();
    for always in blueprints.components.values().filter(|c| c.always) {
        components.insert(always.name.clone());
        note!(
            origins,
            format!("components.{}", always.name),
            Origin {
                file: always.decl_file.clone(),
                line: 1,
                level: "always on".into(),
            },
        );
    }
    for c in &profile.components {
        components.insert(c.value.clone());
        note!(
            origins,
            format!("components.{}", c.value),
            Origin {
                file: catalog.profiles.file.to_string(),
                line: c.pos.line,
                level: format!("profile {}", profile.name.value),
            },
        );
    }
    for level in levels {
        for c in &level.layer.components {
            match c.value.strip_prefix('-') {
                Some(name) => {
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
                    note!(origins, format!("components.{name}"), origin(level, c.pos));
                }
                None => {
                    if level.name.starts_with("overrides.") {
                        check_component(blueprints, archetype, c, level.file, diags);
                    }
                    components.insert(c.value.clone());
                    note!(origins, format!("components.{}", c.value), origin(level, c.pos));
                }
            }
        }
    }
    // A broken component is reported at its own files; leaving it out would
    // silently drop its objects, so the service fails and keeps its output.
    if components.iter().any(|c| blueprints.is_broken(Kind::Component, c)) {
        return None;
    }
    let components: Vec<String> = components
        .into_iter()
        .filter(|c| blueprints.components.contains_key(c))
        .collect();

    // Params: declared defaults, then each level's values.
    let mut declared = BTreeMap::new();
    for blueprint in std::iter::once(archetype).chain(components.iter().filter_map(|c| blueprints.components.get(c))) {
        for p in &blueprint.params {
            declared.insert(p.name.clone(), (p, blueprint));
            note!(
                origins,
                format!("params.{}", p.name),
                Origin {
                    file: blueprint.decl_file.clone(),
                    line: p.pos.line,
                    level: format!("{} default", blueprint.kind.noun()),
                },
            );
        }
    }
    let mut params: BTreeMap<String, Value> = declared
        .iter()
        .map(|(k, (p, _))| (k.clone(), p.default.clone()))
        .collect();
    for level in levels {
        for (key, value) in &level.layer.params {
            match declared.get(&key.value) {
                None => diags.push(
                    Diagnostic::new(
                        level.file,
                        key.pos,
                        format!(
                            "param `{}` is not declared by archetype `{}` or an enabled component",
                            key.value, archetype.name
                        ),
                    )
                    .suggest(&key.value, declared.keys().map(String::as_str)),
                ),
                Some((p, _)) if !p.ty.accepts(&value.value) => diags.push(Diagnostic::new(
                    level.file,
                    value.pos,
                    format!("param `{}` must be {}, found `{}`", key.value, p.ty.name(), value.value),
                )),
                Some((p, blueprint)) => {
                    // Kubernetes would take the value, but it cannot be meant
                    // (a PDB with `maxUnavailable: 0` blocks every drain).
                    if let Some(problem) = p.out_of_bounds(&value.value) {
                        diags.push(
                            Diagnostic::new(level.file, value.pos, format!("param `{}` {problem}", key.value))
                                .with_hint(format!(
                                    "{} `{}` declares its bounds at `{}:{}`",
                                    blueprint.kind.noun(),
                                    blueprint.name,
                                    blueprint.decl_file,
                                    p.pos.line
                                )),
                        );
                        continue;
                    }
                    params.insert(key.value.clone(), value.value.clone());
                    note!(origins, format!("params.{}", key.value), origin(level, value.pos));
                }
            }
        }
    }

    let mut env = BTreeMap::new();
    for level in levels {
        for (key, value) in &level.layer.env {
            env.insert(key.value.clone(), value.value.clone());
            note!(origins, format!("env.{}", key.value), origin(level, value.pos));
        }
    }

    let size = size?;
    let (size_name, size_file) = size_name?;
    let size_origin = |what: &str, pos: Pos| Origin {
        file: catalog.sizes.file.to_string(),
        line: pos.line,
        level: format!("size {} ({what})", size.name.value),
    };
    // The size beats the profile's defaults; the service and its override
    // beat the size. A size always sets replicas, so a profile's never shows.
    let above_size = &levels[levels.iter().position(|l| l.beats_size).unwrap_or(levels.len())..];
    let mut replicas = size.replicas.value;
    note!(origins, "replicas", size_origin("replicas", size.replicas.pos));
    let replicas_set = last!("replicas", replicas, above_size);
    if let Some((r, _)) = &replicas_set {
        replicas = r.value;
    }
    let mut resources = Resources::default();
    for (kind, res, map) in [
        ("requests", &size.requests, &mut resources.requests),
        ("limits", &size.limits, &mut resources.limits),
    ] {
        for (key, q) in [("cpu", &res.cpu), ("memory", &res.memory)] {
            if let Some(q) = q {
                map.insert(key.to_string(), q.value.clone());
                note!(origins, format!("resources.{kind}.{key}"), size_origin(kind, q.pos));
            }
        }
    }
    let hpa = components.iter().any(|c| c == "hpa");
    let autoscaling = size.autoscaling.as_ref().map(|a| {
        note!(origins, "autoscaling", size_origin("autoscaling", a.min.pos));
        let mut scaling = Autoscaling {
            min: a.min.value,
            max: a.max.value,
            cpu_utilization: a.cpu_utilization.value,
        };
        // An explicit replica count under an autoscaler is its floor.
        if let Some((r, _)) = &replicas_set {
            scaling.min = r.value.max(1);
            scaling.max = scaling.max.max(scaling.min);
        }
        scaling
    });
    if let (Some(_), Some(replicas_origin)) = (
        &autoscaling,
        replicas_set
            .as_ref()
            .and(origins.as_ref().and_then(|o| o.get("replicas")))
            .cloned(),
    ) {
        note!(origins, "autoscaling.min", replicas_origin);
    }
    if hpa && autoscaling.is_none() {
        diags.push(
            Diagnostic::new(
                size_file,
                size_name.pos,
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

    if diags.len() > before {
        return None;
    }
    let (repository, tag) = (repository?.0.value, tag?.0.value);
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
        image: Image {
            reference: format!("{repository}:{tag}"),
            repository,
            tag,
        },
        port,
        schedule: schedule.map(|(s, _)| s.value),
        replicas: (!hpa).then_some(replicas),
        resources,
        autoscaling,
        env,
        components,
        params,
        selector: BTreeMap::from([("app.kubernetes.io/name".to_string(), service.name.value.clone())]),
    };
    Some((values, origins.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Sources;

    const ENVIRONMENTS: &str = "environments:\n  dev:\n    regions:\n      eu: { cluster: https://dev.example.com }\n";
    const TEAMS: &str = "teams:\n  t: { github: \"@example/t\" }\n";
    const SIZES: &str = "\
sizes:
  small:
    replicas: 2
    requests: { cpu: 100m, memory: 128Mi }
    limits: { cpu: 200m, memory: 256Mi }
    autoscaling: { min: 2, max: 4, cpu_utilization: 70 }
  large:
    replicas: 5
    requests: { cpu: 100m, memory: 128Mi }
    limits: { cpu: 200m, memory: 256Mi }
    autoscaling: { min: 5, max: 9, cpu_utilization: 70 }
";

    /// The built-in blueprints with the given profiles and one service `s`.
    fn sources(profiles: &str, service: &str) -> Sources {
        let repo = Sources::from_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut sources = Sources::default();
        for (path, text) in repo.iter() {
            if path.starts_with("archetypes/") || path.starts_with("components/") {
                sources.insert(path, text);
            }
        }
        sources.insert("catalog/profiles.yaml", profiles);
        sources.insert("catalog/sizes.yaml", SIZES);
        sources.insert("catalog/environments.yaml", ENVIRONMENTS);
        sources.insert("catalog/teams.yaml", TEAMS);
        sources.insert("catalog/services/s.yaml", service);
        sources
    }

    fn run(profiles: &str, service: &str) -> (Vec<Target>, Vec<Diagnostic>) {
        let sources = sources(profiles, service);
        let (catalog, mut diags) = crate::catalog::parse(&sources);
        let (blueprints, blueprint_diags) = crate::blueprint::parse(&sources);
        diags.extend(blueprint_diags);
        let (resolved, resolve_diags) = resolve(&catalog, &blueprints, Provenance::Record, &|_| false);
        diags.extend(resolve_diags);
        (resolved.targets, diags)
    }

    /// The one target of a service that must resolve.
    fn target(profiles: &str, service: &str) -> Target {
        let (mut targets, diags) = run(profiles, service);
        assert!(diags.is_empty(), "{diags:#?}");
        assert_eq!(targets.len(), 1);
        targets.remove(0)
    }

    fn service(extra: &str) -> String {
        format!(
            "name: s\nprofile: p\nsize: small\nenvironments: [dev]\n\
             image: {{ repository: ghcr.io/example/s, tag: \"1\" }}\nowners: {{ team: t }}\n{extra}"
        )
    }

    const WORKER: &str = "profiles:\n  p:\n    archetype: worker\n    defaults: { replicas: 9, port: 9000 }\n";

    #[test]
    fn the_size_beats_the_profile_defaults() {
        let t = target(WORKER, &service(""));
        assert_eq!(t.values.replicas, Some(2));
        assert_eq!(t.origins["replicas"].level, "size small (replicas)");
    }

    #[test]
    fn the_service_beats_the_size() {
        let t = target(WORKER, &service("replicas: 7\n"));
        assert_eq!(t.values.replicas, Some(7));
        assert_eq!(t.origins["replicas"].level, "service");
    }

    #[test]
    fn the_override_beats_the_service() {
        let t = target(WORKER, &service("replicas: 7\noverrides:\n  dev: { replicas: 3 }\n"));
        assert_eq!(t.values.replicas, Some(3));
        assert_eq!(t.origins["replicas"].level, "overrides.dev");
    }

    #[test]
    fn the_override_size_beats_the_service_size_and_sets_replicas() {
        let t = target(WORKER, &service("overrides:\n  dev: { size: large }\n"));
        assert_eq!(t.values.size, "large");
        assert_eq!(t.values.replicas, Some(5));
    }

    #[test]
    fn the_profile_beats_the_archetype_and_the_service_beats_the_profile() {
        let api = "profiles:\n  p: { archetype: api }\n  q:\n    archetype: api\n    defaults: { port: 9000 }\n";
        assert_eq!(target(api, &service("")).values.port, Some(8080));
        let profiled = service("").replace("profile: p", "profile: q");
        assert_eq!(target(api, &profiled).values.port, Some(9000));
        assert_eq!(target(api, &format!("{profiled}port: 7000\n")).values.port, Some(7000));
    }

    #[test]
    fn only_a_replica_count_above_the_size_is_the_autoscaler_floor() {
        let hpa = "profiles:\n  p:\n    archetype: worker\n    components: [hpa]\n    defaults: { replicas: 9 }\n";
        let t = target(hpa, &service(""));
        assert_eq!(t.values.replicas, None);
        assert_eq!(t.values.autoscaling.as_ref().map(|a| (a.min, a.max)), Some((2, 4)));
        let t = target(hpa, &service("replicas: 6\n"));
        assert_eq!(t.values.autoscaling.as_ref().map(|a| (a.min, a.max)), Some((6, 6)));
    }

    #[test]
    fn env_merges_with_the_override_winning() {
        let t = target(
            WORKER,
            &service("env: { A: one, B: two }\noverrides:\n  dev: { env: { B: three } }\n"),
        );
        let env: Vec<_> = t.values.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("A", "one"), ("B", "three")]);
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
    fn a_cronjob_name_over_52_characters_is_an_error_at_the_name() {
        let batch = "profiles:\n  p: { archetype: cronjob }\n";
        let name = "a".repeat(53);
        let file = service("schedule: \"0 2 * * *\"\n").replace("name: s", &format!("name: {name}"));
        let mut repo = sources(batch, "");
        repo.insert(format!("catalog/services/{name}.yaml"), file);
        let (catalog, _) = crate::catalog::parse(&repo);
        let (blueprints, _) = crate::blueprint::parse(&repo);
        let (resolved, diags) = resolve(&catalog, &blueprints, Provenance::Skip, &|_| false);
        assert!(resolved.failed_services.contains(&name));
        let d = diags.iter().find(|d| d.message.starts_with("CronJob name")).unwrap();
        assert_eq!(
            (d.file.as_str(), d.pos),
            (format!("catalog/services/{name}.yaml").as_str(), Pos::new(1, 7))
        );
        // 52 is fine.
        let ok = service("schedule: \"0 2 * * *\"\n").replace("name: s", &format!("name: {}", "a".repeat(52)));
        let mut repo = sources(batch, "");
        repo.insert(format!("catalog/services/{}.yaml", "a".repeat(52)), ok);
        let (catalog, _) = crate::catalog::parse(&repo);
        let (resolved, diags) = resolve(&catalog, &blueprints, Provenance::Skip, &|_| false);
        assert!(
            !diags.iter().any(|d| d.message.starts_with("CronJob name")),
            "{diags:#?}"
        );
        assert!(resolved.targets.iter().any(|t| t.service == "a".repeat(52)));
    }

    #[test]
    fn an_applies_to_typo_is_not_reported_at_the_profile() {
        // The declaration is at fault; blueprint.rs reports it at its line.
        let mut repo = sources("profiles:\n  p: { archetype: worker, components: [x] }\n", &service(""));
        repo.insert(
            "components/x/component.kdl",
            "name \"x\"\ndescription \"x\"\napplies-to \"wroker\"\ntemplate \"x.yaml.j2\" kind=\"ConfigMap\"\n",
        );
        repo.insert("components/x/x.yaml.j2", "");
        let (catalog, _) = crate::catalog::parse(&repo);
        let (blueprints, blueprint_diags) = crate::blueprint::parse(&repo);
        assert!(
            blueprint_diags
                .iter()
                .any(|d| d.file == "components/x/component.kdl" && d.pos.line == 3),
            "{blueprint_diags:#?}"
        );
        let (_, diags) = resolve(&catalog, &blueprints, Provenance::Skip, &|_| false);
        assert!(diags.iter().all(|d| d.file != "catalog/profiles.yaml"), "{diags:#?}");
        // A real mismatch still is.
        repo.insert(
            "components/x/component.kdl",
            "name \"x\"\ndescription \"x\"\napplies-to \"api\"\ntemplate \"x.yaml.j2\" kind=\"ConfigMap\"\n",
        );
        let (blueprints, _) = crate::blueprint::parse(&repo);
        let (_, diags) = resolve(&catalog, &blueprints, Provenance::Skip, &|_| false);
        assert!(
            diags
                .iter()
                .any(|d| d.file == "catalog/profiles.yaml" && d.message.contains("does not apply")),
            "{diags:#?}"
        );
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
