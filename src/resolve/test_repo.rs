//! A small repo for the resolve stage's unit tests: the built-in blueprints,
//! two sizes, one environment and team, given profiles and one service `s`.

use crate::diagnostic::Diagnostic;
use crate::load::Sources;
use crate::resolve::{Provenance, Target, resolve};

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
    requests: { cpu: 500m, memory: 512Mi }
    limits: { cpu: 1, memory: 1Gi }
    autoscaling: { min: 5, max: 9, cpu_utilization: 80 }
";

/// A worker profile whose defaults set replicas and a port.
pub(crate) const WORKER: &str = "profiles:\n  p:\n    archetype: worker\n    defaults: { replicas: 9, port: 9000 }\n";

/// The built-in blueprints with the given profiles and one service `s`.
pub(crate) fn sources(profiles: &str, service: &str) -> Sources {
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

/// Parses and resolves, with provenance, collecting every diagnostic.
pub(crate) fn run(profiles: &str, service: &str) -> (Vec<Target>, Vec<Diagnostic>) {
    let sources = sources(profiles, service);
    let (catalog, mut diags) = crate::catalog::parse(&sources);
    let (blueprints, blueprint_diags) = crate::blueprint::parse(&sources);
    diags.extend(blueprint_diags);
    let (resolved, resolve_diags) = resolve(&catalog, &blueprints, Provenance::Record, &|_| false);
    diags.extend(resolve_diags);
    (resolved.targets, diags)
}

/// The one target of a service that must resolve.
pub(crate) fn target(profiles: &str, service: &str) -> Target {
    let (mut targets, diags) = run(profiles, service);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(targets.len(), 1);
    targets.remove(0)
}

/// Service `s` (profile `p`, size `small`, environment `dev`) with `extra` lines.
pub(crate) fn service(extra: &str) -> String {
    format!(
        "name: s\nprofile: p\nsize: small\nenvironments: [dev]\n\
         image: {{ repository: ghcr.io/example/s, tag: \"1\" }}\nowners: {{ team: t }}\n{extra}"
    )
}
