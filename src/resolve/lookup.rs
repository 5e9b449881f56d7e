//! Layer lookup: finds the shared entries a layer names (profile, size, team,
//! environment, region, component) and reports a name that is not there.
//!
//! An entry that exists but is broken is not reported again here: its own
//! file has the error, and the service that names it fails and keeps its output.

use std::collections::BTreeSet;

use crate::blueprint::{Blueprint, Blueprints, Kind};
use crate::catalog::reader::Spanned;
use crate::catalog::{Catalog, Environment, Layer, Lookup, Profile, Region, Service, Size, Team};
use crate::diagnostic::Diagnostic;

/// Checks every profile's archetype, components and default size once, and
/// returns the profiles a service cannot be resolved with.
pub(crate) fn check_profiles(
    catalog: &Catalog,
    blueprints: &Blueprints,
    diags: &mut Vec<Diagnostic>,
) -> BTreeSet<String> {
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

/// The service's profile, unless it is missing (reported) or broken.
pub(crate) fn profile<'c>(
    catalog: &'c Catalog,
    broken_profiles: &BTreeSet<String>,
    service: &Service,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'c Profile> {
    match catalog.profiles.lookup(&service.profile.value) {
        Lookup::Found(p) if !broken_profiles.contains(&p.name.value) => Some(p),
        Lookup::Found(_) | Lookup::Broken => None,
        Lookup::Missing => {
            diags.push(
                Diagnostic::new(
                    &service.file,
                    service.profile.pos,
                    format!(
                        "profile `{}` is not in `{}`",
                        service.profile.value, catalog.profiles.file
                    ),
                )
                .suggest(&service.profile.value, catalog.profiles.names()),
            );
            None
        }
    }
}

/// The service's team, unless it is missing (reported) or broken.
pub(crate) fn team<'c>(catalog: &'c Catalog, service: &Service, diags: &mut Vec<Diagnostic>) -> Option<&'c Team> {
    let team = &service.owners.team;
    match catalog.teams.lookup(&team.value) {
        Lookup::Found(t) => Some(t),
        Lookup::Broken => None,
        Lookup::Missing => {
            diags.push(
                Diagnostic::new(
                    &service.file,
                    team.pos,
                    format!("team `{}` is not in `{}`", team.value, catalog.teams.file),
                )
                .suggest(&team.value, catalog.teams.names()),
            );
            None
        }
    }
}

/// The environments a service lists, in its order.
pub(crate) struct Environments<'c> {
    pub(crate) found: Vec<&'c Environment>,
    /// A listed environment is broken in its shared file.
    pub(crate) depends_on_broken: bool,
}

/// Looks up the service's environments, and checks each `overrides` key is
/// one of them.
pub(crate) fn environments<'c>(
    catalog: &'c Catalog,
    service: &Service,
    diags: &mut Vec<Diagnostic>,
) -> Environments<'c> {
    let file = service.file.as_str();
    let mut seen = BTreeSet::new();
    let mut envs = Environments {
        found: Vec::new(),
        depends_on_broken: false,
    };
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
            Lookup::Found(e) => envs.found.push(e),
            Lookup::Broken => envs.depends_on_broken = true,
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
        // Every service can be previewed: its preview settings are not a listing.
        let preview = catalog.environments.get(&env.value).is_some_and(|e| e.preview);
        if !preview && !seen.contains(env.value.as_str()) {
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
    envs
}

/// The regions of `env` a target is built for: all of them, or those the
/// override's `regions` names (an unknown one is reported and left out).
pub(crate) fn regions<'c>(
    file: &str,
    env: &'c Environment,
    override_layer: Option<&Layer>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<&'c Region> {
    let Some(wanted) = override_layer.and_then(|l| l.regions.as_ref()) else {
        return env.regions.iter().collect();
    };
    wanted
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
        .collect()
}

/// The size a layer names, unless it is missing (reported at `file`) or broken.
pub(crate) fn check_size<'c>(
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
pub(crate) fn check_component<'b>(
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

#[cfg(test)]
mod tests {
    use crate::resolve::test_repo::{service, sources};
    use crate::resolve::{Provenance, resolve};

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
}
