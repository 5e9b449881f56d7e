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
use crate::progress::Progress;
use crate::render::render_target;
use crate::resolve::Target;
use crate::shard::Shard;
use crate::stat_cache::{StatCache, Trust};
use crate::write::Plan;
use crate::{allocator, git, policy, resolve, timings};

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
    /// Policy warnings of the targets rendered this run, as printed lines.
    pub(crate) warnings: Vec<String>,
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
        /// Policy warnings, and which of the service's exceptions waived something.
        checked: policy::Checked,
    },
    /// Rendered, and a policy rule denies it.
    Denied(policy::Checked),
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
    return_freed_memory_if_cold(&sources, cache, stat_cache);
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
    let (policies, policy_diags) = policy::load(&sources);
    diags.extend(policy_diags);
    // Fail closed: with a shared input broken, what resolves is not what
    // should deploy (a target may be missing only because a size or a
    // component failed to load), so nothing is rendered, written or removed.
    if diags.iter().any(|d| !is_service_file(&d.file)) {
        let targets = resolved.targets.len();
        return Compiled::shared_broken(diags, sources, &catalog, targets);
    }
    let mut plan = start_plan(&sources, &catalog, &mut resolved, shard);
    let render = Render {
        root,
        sources: &sources,
        blueprints: &blueprints,
        policies: &policies,
        exceptions: exceptions_by_service(&catalog),
        cache,
        stat_cache,
    };
    // From here on the targets are names and folders: values are released.
    let outcomes = render.targets(&mut resolved.targets);
    let stage = timings::stage("plan");
    let (outcomes, warnings) = policy_outcomes(&catalog, &render, &resolved.targets, outcomes, &mut diags);
    let mut tally = Tally::default();
    tally.collect(&resolved.targets, outcomes, &mut plan, &mut diags);
    let skipped_targets = keep_unrendered(&resolved, stat_cache, &mut plan);
    let mut fresh_services = fresh_services(&catalog, &resolved, &plan, &key_of);
    drop(stage);

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
        warnings,
    }
}

/// A large run with nothing to skip by (no stat cache: a first build, a
/// fresh clone, `--no-cache`) resolves and renders every service, so it
/// gives freed memory back from the start: mimalloc decides that for each
/// segment when it maps one (`allocator`).
fn return_freed_memory_if_cold(sources: &Sources, cache: Cache, stat_cache: &StatCache) {
    let cold = cache == Cache::Ignore || stat_cache.is_empty();
    let services = || {
        sources
            .iter()
            .filter(|(path, _)| service_of_file(path).is_some())
            .count()
    };
    if cold && services() >= allocator::LARGE_RUN_SERVICES {
        allocator::return_freed_memory();
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
            warnings: Vec::new(),
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

/// Each service's policy exceptions.
fn exceptions_by_service(catalog: &Catalog) -> HashMap<&str, &[catalog::policy_exceptions::PolicyException]> {
    catalog
        .services
        .iter()
        .map(|s| (s.name.value.as_str(), s.policy_exceptions.as_slice()))
        .collect()
}

/// What rendering a target needs besides the target itself.
struct Render<'a> {
    root: &'a Path,
    sources: &'a Sources,
    blueprints: &'a blueprint::Blueprints,
    policies: &'a policy::Policies,
    exceptions: HashMap<&'a str, &'a [catalog::policy_exceptions::PolicyException]>,
    cache: Cache,
    stat_cache: &'a StatCache,
}

impl Render<'_> {
    /// Each target's fingerprint inputs and outcome, in `targets` order: up
    /// to date by fingerprint (unless the cache is ignored), rendered and
    /// checked by policy, denied, or failed. Releases each target's values
    /// (`Target::release_values`) once it is done.
    fn targets(&self, targets: &mut [Target]) -> Vec<(blake3::Hash, Outcome)> {
        let _stage = timings::stage("render");
        let what = match self.cache {
            Cache::Local => "checking",
            Cache::Use | Cache::Ignore => "rendering",
        };
        if targets.len() >= allocator::LARGE_RUN_TARGETS {
            allocator::return_freed_memory();
        }
        let progress = Progress::new(what, targets.len());
        targets
            .par_iter_mut()
            .map(|target| {
                let outcome = self.target(target);
                target.release_values();
                progress.inc();
                outcome
            })
            .collect()
    }

    fn target(&self, target: &Target) -> (blake3::Hash, Outcome) {
        let waivers = self
            .exceptions
            .get(target.service.as_str())
            .copied()
            .unwrap_or_default();
        let inputs = fingerprint::inputs(target, self.blueprints, self.policies.inputs(waivers, &target.env));
        if self.cache != Cache::Ignore {
            let rendered_only = self.cache == Cache::Local;
            let freshness = fingerprint::freshness(self.root, &target.dir(), inputs, self.stat_cache, rendered_only);
            if freshness != Freshness::Stale {
                return (inputs, Outcome::UpToDate(freshness));
            }
        }
        let outcome = match render_target(self.blueprints, self.sources, target) {
            Ok(objects) => {
                let checked = policy::check(self.policies, target, &objects, waivers);
                if !checked.denied.is_empty() {
                    return (inputs, Outcome::Denied(checked));
                }
                let manifests = emit::manifests(target, &objects);
                let params = emit::target_params(target);
                let fingerprint = Fingerprint::new(inputs, &manifests, &params).to_text();
                Outcome::Rendered {
                    manifests,
                    params,
                    fingerprint,
                    objects: objects.len(),
                    checked,
                }
            }
            Err(target_diags) => Outcome::Failed(target_diags),
        };
        (inputs, outcome)
    }
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
                    checked: _,
                } => {
                    self.fresh.push((dir, inputs, Trust::Rendered));
                    self.rendered += 1;
                    self.objects += objects;
                    plan.files
                        .extend(paths.into_iter().zip([manifests, params, fingerprint]));
                }
                // `policy_outcomes` has turned denials into failures already.
                Outcome::Denied(_) => {
                    self.failed_targets += 1;
                    plan.keep.insert(format!("{dir}/"));
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
    // An edit skips nearly every target: ~3 files each, built into the set
    // at once (sorted, then built in one pass) rather than inserted one by
    // one.
    let mut unchanged: Vec<String> = std::mem::take(&mut plan.unchanged).into_iter().collect();
    for service in &resolved.skipped {
        for dir in stat_cache.service_dirs(service) {
            skipped_targets += 1;
            unchanged.extend(target_files(dir));
        }
    }
    plan.unchanged = unchanged.into_iter().collect();
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
    let _stage = timings::stage("paths");
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

/// Turns policy findings into diagnostics: denials fail their target (at
/// the catalog line that set the value, from `explain`'s provenance),
/// warnings come back as lines to print, and an exception no target of its service needed
/// fails the service. Only services whose targets were all checked this
/// run are judged for unused exceptions: exceptions are in the service
/// file, so a change to them re-renders all of its targets.
fn policy_outcomes(
    catalog: &Catalog,
    render: &Render,
    targets: &[Target],
    mut outcomes: Vec<(blake3::Hash, Outcome)>,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<(blake3::Hash, Outcome)>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut used: HashMap<&str, Option<std::collections::BTreeSet<usize>>> = HashMap::new();
    for (target, (_, outcome)) in targets.iter().zip(&mut outcomes) {
        let entry = used
            .entry(target.service.as_str())
            .or_insert_with(|| Some(Default::default()));
        let checked = match outcome {
            Outcome::Rendered { checked, .. } | Outcome::Denied(checked) => checked,
            _ => {
                *entry = None;
                continue;
            }
        };
        if let Some(set) = entry {
            set.extend(checked.used.iter().copied());
        }
        for warning in std::mem::take(&mut checked.warned) {
            let d = warning.diagnostic(render.sources, target, None);
            warnings.push(format!(
                "warning: {}:{}:{}: {} (target `{}`)\n  hint: {}",
                d.file,
                d.pos.line,
                d.pos.col,
                d.message,
                target.id(),
                d.hint.unwrap_or_default()
            ));
        }
        if let Outcome::Denied(checked) = outcome {
            let origins = policy_origins(catalog, render.blueprints, target);
            let mut found: Vec<Diagnostic> = checked
                .denied
                .iter()
                .map(|v| {
                    let origin = v.value.as_deref().and_then(|key| origins.get(key));
                    v.diagnostic(render.sources, target, origin)
                })
                .collect();
            found.dedup();
            *outcome = Outcome::Failed(found);
        }
    }
    unused_exceptions(catalog, render.policies, targets, &used, &mut outcomes, diags);
    (outcomes, warnings)
}

/// An exception no checked target of its service needed is an error at its
/// line, and fails the service (its output is kept).
fn unused_exceptions(
    catalog: &Catalog,
    policies: &policy::Policies,
    targets: &[Target],
    used: &HashMap<&str, Option<std::collections::BTreeSet<usize>>>,
    outcomes: &mut [(blake3::Hash, Outcome)],
    diags: &mut Vec<Diagnostic>,
) {
    for service in &catalog.services {
        let Some(Some(used)) = used.get(service.name.value.as_str()) else {
            continue;
        };
        let known: Vec<&str> = policies.rule_ids().collect();
        let mut unused = Vec::new();
        for (_, e) in service
            .policy_exceptions
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
        {
            let place = e.env.as_ref().map_or(String::new(), |env| format!(" in `{env}`"));
            let d = Diagnostic::new(
                &service.file,
                e.rule.pos,
                format!(
                    "the exception for rule `{}` is unused: no target{place} violates it",
                    e.rule.value
                ),
            );
            unused.push(if known.contains(&e.rule.value.as_str()) {
                d.with_hint("remove the exception: the rule passes without it")
            } else {
                let d = d.suggest(&e.rule.value, known.iter().copied());
                match d.hint {
                    Some(_) => d,
                    None => d.with_hint(format!("`{}` is no rule; rules: {}", e.rule.value, known.join(", "))),
                }
            });
        }
        if unused.is_empty() {
            continue;
        }
        for (target, (_, outcome)) in targets.iter().zip(outcomes.iter_mut()) {
            if target.service == service.name.value && !matches!(outcome, Outcome::Failed(_)) {
                *outcome = Outcome::Failed(Vec::new());
            }
        }
        diags.extend(unused);
    }
}

/// Where each resolved value of `target` came from (see `explain`):
/// resolved again with provenance, only for a target a policy denies.
fn policy_origins(
    catalog: &Catalog,
    blueprints: &blueprint::Blueprints,
    target: &Target,
) -> BTreeMap<String, resolve::Origin> {
    let (resolved, _) = resolve::resolve(catalog, blueprints, resolve::Provenance::Record, &|s| {
        s.name.value != target.service
    });
    resolved
        .targets
        .into_iter()
        .find(|t| t.id() == target.id())
        .map(|t| t.origins)
        .unwrap_or_default()
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
    policies: policy::Policies,
    /// Each service's policy exceptions.
    exceptions: HashMap<String, Vec<catalog::policy_exceptions::PolicyException>>,
}

pub(crate) fn resolve_all(sources: Sources) -> Resolution {
    let Parsed {
        catalog,
        blueprints,
        resolved,
        mut diags,
    } = parse_and_resolve(&sources, resolve::Provenance::Skip, &|_| false);
    let (policies, policy_diags) = policy::load(&sources);
    diags.extend(policy_diags);
    let exceptions: HashMap<_, _> = catalog
        .services
        .iter()
        .map(|s| (s.name.value.clone(), s.policy_exceptions.clone()))
        .collect();
    let waivers = |t: &Target| exceptions.get(&t.service).map_or(&[][..], Vec::as_slice);
    let inputs = resolved
        .targets
        .par_iter()
        .map(|t| fingerprint::inputs(t, &blueprints, policies.inputs(waivers(t), &t.env)))
        .collect();
    Resolution {
        policies,
        exceptions,
        largest_size: largest_size(&catalog),
        sources,
        blueprints,
        targets: resolved.targets,
        inputs,
        diags,
    }
}

impl Resolution {
    /// Every policy exception: service, rule, environment (when under
    /// `overrides`) and expiry.
    pub(crate) fn policy_exceptions(&self) -> Vec<(String, String, Option<String>, String)> {
        let mut all: Vec<_> = self
            .exceptions
            .iter()
            .flat_map(|(service, list)| {
                list.iter().map(move |e| {
                    (
                        service.clone(),
                        e.rule.value.clone(),
                        e.env.clone(),
                        e.expires.value.clone(),
                    )
                })
            })
            .collect();
        all.sort();
        all
    }

    pub(crate) fn summaries(&self) -> Vec<TargetSummary> {
        self.targets.iter().map(TargetSummary::of).collect()
    }

    /// What this side and `new` render of the targets whose inputs differ
    /// between them (no other target's output can differ), each side's
    /// files with its diagnostics.
    pub(crate) fn render_differing(&self, new: &Resolution) -> [(BTreeMap<String, String>, Vec<Diagnostic>); 2] {
        let inputs_of = |r: &Resolution| -> HashMap<String, blake3::Hash> {
            r.targets.iter().zip(&r.inputs).map(|(t, h)| (t.id(), *h)).collect()
        };
        let (old_inputs, new_inputs) = (inputs_of(self), inputs_of(new));
        let differs = |t: &Target| old_inputs.get(&t.id()) != new_inputs.get(&t.id());
        [self.render(&differs), new.render(&differs)]
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
                let objects = render_target(&self.blueprints, &self.sources, target)?;
                let waivers = self.exceptions.get(&target.service).map_or(&[][..], Vec::as_slice);
                let checked = policy::check(&self.policies, target, &objects, waivers);
                if !checked.denied.is_empty() {
                    let diagnostic = |v: &policy::Violation| v.diagnostic(&self.sources, target, None);
                    return Err(checked.denied.iter().map(diagnostic).collect());
                }
                Ok({
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
                let (path, text) = argocd::environment_file(&catalog.settings, url, env);
                plan.files.insert(path, text);
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
