//! Stage two: catalog + blueprints into one fully resolved target per
//! (service, environment, region), checking every cross-file reference.
//!
//! `lookup` finds the shared entries a service names, `layers` folds the
//! layers (archetype → profile → size → service → override) into values,
//! `provenance` records where each value came from for `explain`, and
//! `target` is the model the later stages read.

mod alerts;
mod flags;
mod layers;
mod lookup;
mod migration;
mod provenance;
pub(crate) mod rollout;
mod target;
#[cfg(test)]
pub(crate) mod test_repo;

use std::collections::BTreeSet;

use rayon::prelude::*;

use crate::blueprint::Blueprints;
use crate::catalog::{Catalog, Environment, Region, Service, Team};
use crate::diagnostic::Diagnostic;
use layers::{Layers, Scope};

pub use flags::Flag;
pub(crate) use migration::{JOB_SUFFIX, WORKLOAD_KINDS};
pub use provenance::{Origin, Provenance};
pub use rollout::{Analysis, Rollout};
pub use target::{Alerts, Autoscaling, Image, Migration, Owners, Resolved, Resources, Target, Values};

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
    let broken_profiles = lookup::check_profiles(catalog, blueprints, &mut diags);
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
    // Sized exactly: growing by doubling held up to twice the list while
    // it was copied.
    let count = per_service.iter().map(|(t, _, _)| t.as_ref().map_or(0, Vec::len)).sum();
    let mut targets = Vec::with_capacity(count);
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

/// The longest CronJob name Kubernetes accepts (63 minus the Job suffix).
const MAX_CRONJOB_NAME: usize = 52;

/// The longest namespace name Kubernetes accepts.
const MAX_NAMESPACE: usize = 63;

/// One service's targets, or `None` when it fails: a problem is reported, or
/// it depends on a shared entry that is broken (its error is reported there),
/// so the service keeps its output and a typo in a shared file never removes
/// targets.
fn resolve_service(
    catalog: &Catalog,
    blueprints: &Blueprints,
    broken_profiles: &BTreeSet<String>,
    service: &Service,
    provenance: Provenance,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<Target>> {
    let profile = lookup::profile(catalog, broken_profiles, service, diags)?;
    let archetype = blueprints.archetypes.get(&profile.archetype.value)?;
    check_cronjob_name(archetype, service, diags);
    let team = lookup::team(catalog, service, diags);
    let environments = lookup::environments(catalog, service, diags);
    let mut depends_on_broken = environments.depends_on_broken;
    for component in profile.components.iter().chain(&service.layer.components) {
        lookup::check_component(blueprints, archetype, component, &service.file, diags);
    }
    let team = team?;

    let scope = Scope {
        catalog,
        blueprints,
        profile,
        archetype,
        service,
        provenance,
    };
    let mut targets = Vec::new();
    for env in environments.found {
        if env.preview {
            refuse_preview_env(service, env, diags);
            continue;
        }
        let override_layer = override_for(service, env);
        let Some(shared) = env_values(&scope, env, override_layer, diags) else {
            depends_on_broken = true;
            continue;
        };
        for region in lookup::regions(&service.file, env, override_layer, diags) {
            let namespace = format!("{}-{}-{}", env.name.value, service.name.value, region.name.value);
            if !namespace_fits(service, &namespace, "namespaces are `<env>-<service>-<region>`", diags) {
                continue;
            }
            targets.push(for_region(&scope, team, env, region, &shared, namespace));
        }
    }
    (!depends_on_broken).then_some(targets)
}

/// A scheduled archetype's CronJob is named after the service, and the
/// CronJob controller appends 11 characters to name its Jobs.
fn check_cronjob_name(archetype: &crate::blueprint::Blueprint, service: &Service, diags: &mut Vec<Diagnostic>) {
    if archetype.requires("schedule") && service.name.value.len() > MAX_CRONJOB_NAME {
        diags.push(
            Diagnostic::new(
                &service.file,
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
}

/// A preview environment is a template for `stamp preview`, never listed.
fn refuse_preview_env(service: &Service, env: &Environment, diags: &mut Vec<Diagnostic>) {
    let pos = service
        .environments
        .iter()
        .find(|e| e.value == env.name.value)
        .map_or(service.name.pos, |e| e.pos);
    diags.push(
        Diagnostic::new(
            &service.file,
            pos,
            format!(
                "environment `{}` is a preview environment; services do not list it",
                env.name.value
            ),
        )
        .with_hint(format!(
            "every service can be previewed with `stamp preview`; settings for it go under `overrides.{}`",
            env.name.value
        )),
    );
}

fn override_for<'s>(service: &'s Service, env: &Environment) -> Option<&'s crate::catalog::Layer> {
    service
        .overrides
        .iter()
        .find(|(e, _)| e.value == env.name.value)
        .map(|(_, l)| l)
}

/// The values a service's targets in `env` share, from every layer; `None`
/// when a layer fails (reported) or depends on something broken.
fn env_values(
    scope: &Scope,
    env: &Environment,
    override_layer: Option<&crate::catalog::Layer>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Values, provenance::Origins)> {
    let service = scope.service;
    let layers = Layers::for_env(scope, &env.name.value, override_layer);
    let mut shared = layers::fold(scope, &layers, diags)?;
    if !digest_required(service, env, &shared.0, diags) {
        return None;
    }
    let (values, origins) = &mut shared;
    values.migration = migration::fold(scope, layers.levels(), origins, diags);
    values.alerts = alerts::fold(scope, layers.levels(), &values.components, origins, diags);
    let rollout_cx = rollout::Context {
        service_file: &service.file,
        archetype: scope.archetype,
        env,
    };
    values.rollout = rollout::resolve(&rollout_cx, &layers.rollout_levels(), origins, diags);
    values.flags = flags::fold(scope, layers.levels(), &env.name.value, origins, diags);
    if !values.flags.is_empty() {
        flags::check_component(scope, layers.levels(), &values.components, diags);
    }
    Some(shared)
}

/// False (and reported at the service's name) when `namespace` is longer
/// than Kubernetes allows.
fn namespace_fits(service: &Service, namespace: &str, shape: &str, diags: &mut Vec<Diagnostic>) -> bool {
    if namespace.len() <= MAX_NAMESPACE {
        return true;
    }
    diags.push(
        Diagnostic::new(
            &service.file,
            service.name.pos,
            format!(
                "namespace `{namespace}` is {} characters long; Kubernetes allows {MAX_NAMESPACE}",
                namespace.len()
            ),
        )
        .with_hint(format!("{shape}: shorten the service name")),
    );
    false
}

/// Every service of `services` resolved into the preview environment `env`,
/// in namespace `<name>-<service>`: the same layers as any target, with
/// `overrides.<env>` last. Shared files are assumed checked by `resolve`.
pub(crate) fn resolve_preview(
    catalog: &Catalog,
    blueprints: &Blueprints,
    env: &Environment,
    name: &str,
    services: &[&Service],
) -> (Vec<Target>, Vec<Diagnostic>) {
    // Shared files' errors are reported by `resolve`; only the set matters here.
    let broken_profiles = lookup::check_profiles(catalog, blueprints, &mut Vec::new());
    let mut diags = Vec::new();
    let mut targets = Vec::new();
    for &service in services {
        let Some(profile) = lookup::profile(catalog, &broken_profiles, service, &mut diags) else {
            continue;
        };
        let (Some(archetype), Some(team), Some(region)) = (
            blueprints.archetypes.get(&profile.archetype.value),
            lookup::team(catalog, service, &mut diags),
            env.regions.first(),
        ) else {
            continue;
        };
        let scope = Scope {
            catalog,
            blueprints,
            profile,
            archetype,
            service,
            provenance: Provenance::Skip,
        };
        let namespace = format!("{name}-{}", service.name.value);
        if !namespace_fits(
            service,
            &namespace,
            "preview namespaces are `<name>-<service>`",
            &mut diags,
        ) {
            continue;
        }
        if let Some(shared) = env_values(&scope, env, override_for(service, env), &mut diags) {
            targets.push(for_region(&scope, team, env, region, &shared, namespace));
        }
    }
    (targets, diags)
}

/// False (and reported at the service file) when `env` requires a digest
/// and the resolved image has none.
fn digest_required(service: &Service, env: &Environment, values: &Values, diags: &mut Vec<Diagnostic>) -> bool {
    if !env.require_digest || values.image.digest.is_some() {
        return true;
    }
    diags.push(
        Diagnostic::new(
            &service.file,
            service.name.pos,
            format!(
                "environment `{}` requires an image digest; image `{}` has none",
                env.name.value, values.image.reference
            ),
        )
        .with_hint(format!(
            "set `image.digest`, or `overrides.{}.image.digest` for this environment alone",
            env.name.value
        )),
    );
    false
}

/// The target of one region, from the values its environment's regions share.
fn for_region(
    scope: &Scope,
    team: &Team,
    env: &Environment,
    region: &Region,
    (shared, shared_origins): &(Values, provenance::Origins),
    namespace: String,
) -> Target {
    let service = scope.service;
    let mut values = shared.clone();
    let mut origins = shared_origins.clone();
    provenance::note_region(&mut origins, scope.catalog, service, team, env, region);
    values.environment = env.name.value.clone();
    values.region = region.name.value.clone();
    values.namespace = namespace;
    values.cluster = region.cluster.value.clone();
    values.approval = env.approval.as_str();
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
    Target {
        service: service.name.value.clone(),
        env: env.name.value.clone(),
        region: region.name.value.clone(),
        service_file: service.file.clone(),
        approval: env.approval,
        require_digest: env.require_digest,
        archetype: scope.archetype.name.clone(),
        components: values.components.clone(),
        values: values.into(),
        origins: origins.into_map(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Pos;
    use crate::resolve::test_repo::{WORKER, service, sources, target};

    /// A build holds every target until it is rendered: the list is sized
    /// exactly, not grown by doubling (which held up to twice the list).
    #[test]
    fn the_target_list_is_sized_exactly() {
        let mut sources = sources(WORKER, &service(""));
        for name in ["s2", "s3"] {
            let text = service("").replace("name: s\n", &format!("name: {name}\n"));
            sources.insert(format!("catalog/services/{name}.yaml"), text);
        }
        let (catalog, mut diags) = crate::catalog::parse(&sources);
        let (blueprints, blueprint_diags) = crate::blueprint::parse(&sources);
        diags.extend(blueprint_diags);
        let (resolved, resolve_diags) = resolve(&catalog, &blueprints, Provenance::Skip, &|_| false);
        diags.extend(resolve_diags);
        assert!(diags.is_empty(), "{diags:#?}");
        assert_eq!(resolved.targets.len(), 3);
        assert_eq!(resolved.targets.capacity(), 3);
    }

    #[test]
    fn a_target_gets_its_region_values_from_the_environment_and_team() {
        let t = target(
            WORKER,
            &service("owners: { team: t, oncall: pager }\n").replace("owners: { team: t }\n", ""),
        );
        assert_eq!(t.id(), "s/dev/eu");
        assert_eq!(
            (
                t.values.namespace.as_str(),
                t.values.cluster.as_str(),
                t.values.approval
            ),
            ("dev-s-eu", "https://dev.example.com", "manual")
        );
        assert_eq!(t.values.owners.github, "@example/t");
        assert_eq!(t.values.owners.oncall.as_deref(), Some("pager"));
        assert_eq!(t.origins["cluster"].level, "environment dev");
        assert_eq!(t.origins["owners.github"].level, "team t");
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
}
