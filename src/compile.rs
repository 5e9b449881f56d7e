//! The pipeline from sources to a write plan: load → resolve → render →
//! validate → emit. `build`, `check` and `diff` all start here.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rayon::prelude::*;

use crate::blueprint;
use crate::catalog::{self, Catalog};
use crate::diagnostic::{Diagnostic, Pos};
use crate::emit::{self, argocd, codeowners};
use crate::fingerprint::{self, Fingerprint, Freshness};
use crate::load::Sources;
use crate::paths::{MANIFESTS_FILE, TARGET_FILE, is_service_file, service_of_file, service_prefix, target_files};
use crate::render::render_target;
use crate::resolve::Target;
use crate::shard::Shard;
use crate::stat_cache::{StatCache, Trust};
use crate::write::Plan;
use crate::{git, resolve, timings};

pub(crate) struct Compiled {
    pub(crate) plan: Plan,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) sources: Sources,
    pub(crate) services: usize,
    pub(crate) targets: usize,
    /// Targets rendered this run; the rest were up to date by fingerprint.
    pub(crate) rendered: usize,
    pub(crate) failed_targets: usize,
    /// Objects of the rendered targets.
    pub(crate) objects: usize,
    /// Target folders and inputs whose files on disk the stat cache should
    /// learn once the plan is applied (rendered or verified this run).
    pub(crate) fresh: Vec<(String, blake3::Hash, Trust)>,
    /// Services to record in the stat cache: name, key, target folders.
    pub(crate) fresh_services: Vec<(String, blake3::Hash, Vec<String>)>,
    /// Every service the catalog has, readable or not.
    pub(crate) service_names: std::collections::HashSet<String>,
    /// A shared input (anything but a service file) has errors: the plan is
    /// empty and keeps everything, and nothing may be written or removed.
    pub(crate) shared_broken: bool,
}

/// A resolved target's identity and the facts approval tiers look at.
#[derive(Clone, Debug)]
pub(crate) struct TargetSummary {
    pub(crate) service: String,
    pub(crate) env: String,
    pub(crate) region: String,
    pub(crate) cluster: String,
    pub(crate) namespace: String,
    pub(crate) approval: crate::catalog::Approval,
    pub(crate) size: String,
    pub(crate) components: Vec<String>,
}

impl TargetSummary {
    fn of(t: &Target) -> TargetSummary {
        TargetSummary {
            service: t.service.clone(),
            env: t.env.clone(),
            region: t.region.clone(),
            cluster: t.values.cluster.clone(),
            namespace: t.values.namespace.clone(),
            approval: t.approval,
            size: t.values.size.clone(),
            components: t.components.clone(),
        }
    }

    pub(crate) fn id(&self) -> String {
        format!("{}/{}/{}", self.service, self.env, self.region)
    }
}

/// Which targets may be taken as up to date without rendering them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cache {
    /// `build`: the stat cache, else a matching committed fingerprint (a hint).
    Use,
    /// `check`: only what the stat cache says stamp rendered on this machine.
    Local,
    /// Render everything.
    Ignore,
}

enum Outcome {
    UpToDate(Freshness),
    Rendered {
        manifests: String,
        params: String,
        fingerprint: String,
        objects: usize,
    },
    Failed(Vec<Diagnostic>),
}

/// The stages before rendering: the catalog and blueprints read, and every
/// service not skipped resolved into targets; all problems in `diags`.
pub struct Parsed {
    pub catalog: Catalog,
    pub blueprints: blueprint::Blueprints,
    pub resolved: resolve::Resolved,
    pub diags: Vec<Diagnostic>,
}

pub fn parse_and_resolve(
    sources: &Sources,
    provenance: resolve::Provenance,
    skip: &(dyn Fn(&catalog::Service) -> bool + Sync),
) -> Parsed {
    let stage = timings::stage("parse");
    let (catalog, mut diags) = catalog::parse(sources);
    let (blueprints, blueprint_diags) = blueprint::parse(sources);
    diags.extend(blueprint_diags);
    // Files that could not be read at all (identical ones fold on report).
    diags.extend(sources.problems().iter().cloned());
    drop(stage);
    let _stage = timings::stage("resolve");
    let (resolved, resolve_diags) = resolve::resolve(&catalog, &blueprints, provenance, skip);
    diags.extend(resolve_diags);
    Parsed {
        catalog,
        blueprints,
        resolved,
        diags,
    }
}

/// The pipeline, top to bottom: skip what the stat cache vouches for, parse
/// and resolve, fail closed on a broken shared input, render, collect the
/// outcomes into a plan, emit the shared files, refuse unsafe paths.
pub(crate) fn compile(
    root: &Path,
    sources: Sources,
    cache: Cache,
    stat_cache: &StatCache,
    shard: Option<Shard>,
) -> Compiled {
    // A service whose file and shared inputs hash as at the last build, and
    // whose files still stat the same, is not even resolved.
    let shared = fingerprint::shared_inputs(&sources);
    let key_of = |service: &catalog::Service| {
        fingerprint::service_key(shared, &service.file, sources.get(&service.file).unwrap_or_default())
    };
    let skip = |service: &catalog::Service| {
        cache != Cache::Ignore
            && stat_cache
                .fresh_service_dirs(root, &service.name.value, key_of(service), cache == Cache::Local)
                .is_some()
    };
    let Parsed {
        catalog,
        blueprints,
        mut resolved,
        mut diags,
    } = parse_and_resolve(&sources, resolve::Provenance::Skip, &skip);
    // Fail closed: with a shared input broken, what resolves is not what
    // should deploy (a target may be missing only because a size or a
    // component failed to load), so nothing is rendered, written or removed.
    if diags.iter().any(|d| !is_service_file(&d.file)) {
        let targets = resolved.targets.len();
        return Compiled::shared_broken(diags, sources, &catalog, targets);
    }
    let mut plan = start_plan(&sources, &catalog, &mut resolved, shard);

    let stage = timings::stage("render");
    let outcomes = render_targets(root, &sources, &blueprints, &resolved.targets, cache, stat_cache);
    drop(stage);
    let mut tally = Tally::default();
    tally.collect(&resolved.targets, outcomes, &mut plan, &mut diags);
    let skipped_targets = keep_unrendered(&resolved, stat_cache, &mut plan);
    let mut fresh_services = fresh_services(&catalog, &resolved, &plan, &key_of);

    let stage = timings::stage("shared");
    if shard.is_none_or(|s| s.owns_shared_files()) {
        emit_shared(root, &catalog, &mut plan, &mut diags);
    } else {
        plan.keep.insert("generated/argocd/".into());
    }
    drop(stage);
    refuse_unsafe_paths(root, &mut plan, &mut diags, &mut tally, &mut fresh_services);

    Compiled {
        plan,
        diags,
        sources,
        services: catalog.services.len() + catalog.broken_services.len(),
        service_names: service_names(&catalog),
        targets: resolved.targets.len() + skipped_targets,
        rendered: tally.rendered,
        failed_targets: tally.failed_targets,
        objects: tally.objects,
        fresh: tally.fresh,
        fresh_services,
        shared_broken: false,
    }
}

impl Compiled {
    /// A plan that keeps everything, for a catalog whose shared inputs are broken.
    fn shared_broken(diags: Vec<Diagnostic>, sources: Sources, catalog: &Catalog, targets: usize) -> Compiled {
        Compiled {
            plan: Plan::keep_everything(),
            diags,
            sources,
            services: catalog.services.len() + catalog.broken_services.len(),
            service_names: service_names(catalog),
            targets,
            rendered: 0,
            failed_targets: 0,
            objects: 0,
            fresh: Vec::new(),
            fresh_services: Vec::new(),
            shared_broken: true,
        }
    }
}

/// An empty plan that keeps the output of unreadable service files and of
/// other shards' services; drops other shards' targets from `resolved`.
fn start_plan(sources: &Sources, catalog: &Catalog, resolved: &mut resolve::Resolved, shard: Option<Shard>) -> Plan {
    let mut plan = Plan {
        shard,
        ..Plan::default()
    };
    // A service file that could not be read is not in the catalog: keep its
    // output rather than take it for a removed service.
    for problem in sources.problems() {
        if let Some(stem) = service_of_file(&problem.file) {
            plan.keep.insert(service_prefix(stem));
        }
    }
    if let Some(shard) = shard {
        // Other shards' services are theirs to render: leave them alone.
        resolved.targets.retain(|t| shard.owns(&t.service));
        resolved.skipped.retain(|s| shard.owns(s));
        for service in catalog.services.iter().filter(|s| !shard.owns(&s.name.value)) {
            plan.keep.insert(service_prefix(&service.name.value));
        }
    }
    plan
}

/// Each target's fingerprint inputs and outcome, in `targets` order: up to
/// date by fingerprint (unless the cache is ignored), rendered, or failed.
fn render_targets(
    root: &Path,
    sources: &Sources,
    blueprints: &blueprint::Blueprints,
    targets: &[Target],
    cache: Cache,
    stat_cache: &StatCache,
) -> Vec<(blake3::Hash, Outcome)> {
    targets
        .par_iter()
        .map(|target| {
            let inputs = fingerprint::inputs(target, blueprints);
            if cache != Cache::Ignore {
                let rendered_only = cache == Cache::Local;
                let freshness = fingerprint::freshness(root, &target.dir(), inputs, stat_cache, rendered_only);
                if freshness != Freshness::Stale {
                    return (inputs, Outcome::UpToDate(freshness));
                }
            }
            let outcome = match render_target(blueprints, sources, target) {
                Ok(objects) => {
                    let manifests = emit::manifests(target, &objects);
                    let params = emit::target_params(target);
                    let fingerprint = Fingerprint::new(inputs, &manifests, &params).to_text();
                    Outcome::Rendered {
                        manifests,
                        params,
                        fingerprint,
                        objects: objects.len(),
                    }
                }
                Err(target_diags) => Outcome::Failed(target_diags),
            };
            (inputs, outcome)
        })
        .collect()
}

/// What the render step produced, counted.
#[derive(Default)]
struct Tally {
    objects: usize,
    rendered: usize,
    failed_targets: usize,
    /// See `Compiled::fresh`.
    fresh: Vec<(String, blake3::Hash, Trust)>,
}

impl Tally {
    /// Puts each outcome into the plan: up to date files stay, rendered ones
    /// are written, a failed target keeps its folder and adds its diagnostics.
    fn collect(
        &mut self,
        targets: &[Target],
        outcomes: Vec<(blake3::Hash, Outcome)>,
        plan: &mut Plan,
        diags: &mut Vec<Diagnostic>,
    ) {
        for (target, (inputs, outcome)) in targets.iter().zip(outcomes) {
            let dir = target.dir();
            let paths = target_files(&dir);
            match outcome {
                Outcome::UpToDate(freshness) => {
                    plan.unchanged.extend(paths);
                    if freshness == Freshness::Verified {
                        self.fresh.push((dir, inputs, Trust::Hinted));
                    }
                }
                Outcome::Rendered {
                    manifests,
                    params,
                    fingerprint,
                    objects,
                } => {
                    self.fresh.push((dir, inputs, Trust::Rendered));
                    self.rendered += 1;
                    self.objects += objects;
                    plan.files
                        .extend(paths.into_iter().zip([manifests, params, fingerprint]));
                }
                Outcome::Failed(mut target_diags) => {
                    self.failed_targets += 1;
                    diags.append(&mut target_diags);
                    plan.keep.insert(format!("{dir}/"));
                }
            }
        }
    }
}

/// Keeps the files of services skipped by the stat cache and of services
/// that failed to resolve; returns how many targets were skipped.
fn keep_unrendered(resolved: &resolve::Resolved, stat_cache: &StatCache, plan: &mut Plan) -> usize {
    let mut skipped_targets = 0;
    for service in &resolved.skipped {
        for dir in stat_cache.service_dirs(service) {
            skipped_targets += 1;
            plan.unchanged.extend(target_files(dir));
        }
    }
    for service in &resolved.failed_services {
        plan.keep.insert(service_prefix(service));
    }
    skipped_targets
}

/// Services resolved and rendered without error, which can skip resolution
/// next time: name, key, target folders.
fn fresh_services(
    catalog: &Catalog,
    resolved: &resolve::Resolved,
    plan: &Plan,
    key_of: &dyn Fn(&catalog::Service) -> blake3::Hash,
) -> Vec<(String, blake3::Hash, Vec<String>)> {
    let mut dirs_of: HashMap<&str, Vec<String>> = HashMap::new();
    for target in &resolved.targets {
        dirs_of.entry(target.service.as_str()).or_default().push(target.dir());
    }
    let mut fresh_services = Vec::new();
    for service in &catalog.services {
        let name = service.name.value.as_str();
        if resolved.failed_services.contains(name) {
            continue;
        }
        let Some(dirs) = dirs_of.remove(name) else { continue };
        if dirs.iter().all(|d| !plan.is_kept(&format!("{d}/"))) {
            fresh_services.push((name.to_string(), key_of(service), dirs));
        }
    }
    fresh_services
}

/// Nothing is written through a symlink: the unit it sits in fails and
/// keeps its output, and the stat cache learns nothing about it.
fn refuse_unsafe_paths(
    root: &Path,
    plan: &mut Plan,
    diags: &mut Vec<Diagnostic>,
    tally: &mut Tally,
    fresh_services: &mut Vec<(String, blake3::Hash, Vec<String>)>,
) {
    let unsafe_paths = plan.refuse_unsafe_paths(root);
    if unsafe_paths.is_empty() {
        return;
    }
    diags.extend(unsafe_paths);
    let blocked = |dir: &str| plan.is_kept(&format!("{dir}/"));
    let before = tally.fresh.len();
    tally
        .fresh
        .retain(|(dir, _, trust)| *trust == Trust::Hinted || !blocked(dir));
    tally.failed_targets += before - tally.fresh.len();
    tally.fresh.retain(|(dir, _, _)| !blocked(dir));
    fresh_services.retain(|(_, _, dirs)| !dirs.iter().any(|d| blocked(d)));
}

/// Every service the catalog has, readable or not.
fn service_names(catalog: &Catalog) -> std::collections::HashSet<String> {
    catalog
        .services
        .iter()
        .map(|s| s.name.value.clone())
        .chain(catalog.broken_services.iter().cloned())
        .collect()
}

/// The size with the most memory, then CPU, in its limits.
fn largest_size(catalog: &Catalog) -> Option<String> {
    let limit = |quantity: &Option<catalog::reader::Spanned<String>>| {
        quantity
            .as_ref()
            .and_then(|v| catalog::parse_quantity(&v.value).ok())
            .unwrap_or(0.0)
    };
    let key = |s: &catalog::Size| (limit(&s.limits.memory), limit(&s.limits.cpu));
    catalog
        .sizes
        .items
        .iter()
        .max_by(|a, b| key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal))
        .map(|s| s.name.value.clone())
}

/// Every target resolved, nothing rendered yet: what `affected` compares by
/// fingerprint before rendering only the targets whose inputs differ.
pub(crate) struct Resolution {
    pub(crate) sources: Sources,
    blueprints: blueprint::Blueprints,
    pub(crate) targets: Vec<Target>,
    /// Each target's fingerprint inputs, in `targets` order.
    pub(crate) inputs: Vec<blake3::Hash>,
    pub(crate) diags: Vec<Diagnostic>,
    /// The size with the most memory (then CPU) in sizes.yaml.
    pub(crate) largest_size: Option<String>,
}

pub(crate) fn resolve_all(sources: Sources) -> Resolution {
    let Parsed {
        catalog,
        blueprints,
        resolved,
        diags,
    } = parse_and_resolve(&sources, resolve::Provenance::Skip, &|_| false);
    let inputs = resolved
        .targets
        .par_iter()
        .map(|t| fingerprint::inputs(t, &blueprints))
        .collect();
    Resolution {
        largest_size: largest_size(&catalog),
        sources,
        blueprints,
        targets: resolved.targets,
        inputs,
        diags,
    }
}

impl Resolution {
    pub(crate) fn summaries(&self) -> Vec<TargetSummary> {
        self.targets.iter().map(TargetSummary::of).collect()
    }

    /// The manifests and parameter files of the targets `wanted` picks.
    pub(crate) fn render(
        &self,
        wanted: &(dyn Fn(&Target) -> bool + Sync),
    ) -> (BTreeMap<String, String>, Vec<Diagnostic>) {
        let rendered: Vec<_> = self
            .targets
            .par_iter()
            .filter(|t| wanted(t))
            .map(|target| {
                render_target(&self.blueprints, &self.sources, target).map(|objects| {
                    let dir = target.dir();
                    [
                        (format!("{dir}/{MANIFESTS_FILE}"), emit::manifests(target, &objects)),
                        (format!("{dir}/{TARGET_FILE}"), emit::target_params(target)),
                    ]
                })
            })
            .collect();
        let mut files = BTreeMap::new();
        let mut diags = Vec::new();
        for result in rendered {
            match result {
                Ok(pair) => files.extend(pair),
                Err(mut d) => diags.append(&mut d),
            }
        }
        (files, diags)
    }
}

/// ApplicationSets and CODEOWNERS; each is kept as it is when its inputs are broken.
fn emit_shared(root: &Path, catalog: &Catalog, plan: &mut Plan, diags: &mut Vec<Diagnostic>) {
    plan.files.insert(emit::GITIGNORE_PATH.into(), emit::GITIGNORE.into());
    let repo_url = catalog.settings.repo_url.clone().or_else(|| git::origin_url(root));
    match (&repo_url, catalog.settings_broken || catalog.environments.file_broken) {
        (_, true) => {
            plan.keep.insert("generated/argocd/".into());
        }
        (None, false) => {
            diags.push(
                Diagnostic::new(
                    catalog::STAMP_FILE,
                    Pos::START,
                    "`repo_url` is not set and the repo has no `origin` remote",
                )
                .with_hint("set `repo_url` in stamp.yaml; the ApplicationSets need it"),
            );
            plan.keep.insert("generated/argocd/".into());
        }
        (Some(url), false) => {
            for env in &catalog.environments.items {
                let text = argocd::application_set(&catalog.settings, url, env);
                plan.files.insert(argocd::path(&env.name.value), text);
            }
            for env in &catalog.environments.broken {
                plan.keep.insert(argocd::path(env));
            }
        }
    }
    if !catalog.settings_broken
        && let Some(text) = codeowners::codeowners(catalog)
    {
        plan.files.insert(codeowners::PATH.into(), text);
    }
}
