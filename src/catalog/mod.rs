//! The catalog: `stamp.yaml` and everything under `catalog/`, read into typed,
//! position-carrying values. Cross-file references are checked in `resolve`.

pub mod alerts;
pub mod flags;
pub mod image_ref;
pub mod migration;
pub mod policy_exceptions;
mod quantity;
pub mod reader;
pub mod rollout;

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;
use serde_json::Value;

use crate::diagnostic::{Diagnostic, Pos};
use crate::load::Sources;
use crate::yaml_tree::{self, Node, NodeKind};
pub use quantity::parse_quantity;
use quantity::{memory_problem, suggest_quantity};
use reader::{Fields, Reader, Spanned, node_to_json};

pub(crate) use crate::paths::{SERVICES_DIR, STAMP_FILE};
pub const PROFILES_FILE: &str = "catalog/profiles.yaml";
pub const SIZES_FILE: &str = "catalog/sizes.yaml";
pub const ENVIRONMENTS_FILE: &str = "catalog/environments.yaml";
pub const TEAMS_FILE: &str = "catalog/teams.yaml";

/// Repo settings from `stamp.yaml`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub repo_url: Option<String>,
    /// Where `repo_url` is written, for errors about it.
    pub repo_url_pos: Pos,
    pub platform_team: String,
    pub argocd_namespace: String,
    pub argocd_project: String,
    pub argocd_revision: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            repo_url: None,
            repo_url_pos: Pos::START,
            platform_team: "@acme/platform".into(),
            argocd_namespace: "argocd".into(),
            argocd_project: "default".into(),
            argocd_revision: "main".into(),
        }
    }
}

/// Values any level of the resolution order may set. Which keys a level
/// accepts is decided by its reader; unset values stay `None`.
#[derive(Clone, Debug, Default)]
pub struct Layer {
    pub size: Option<Spanned<String>>,
    pub replicas: Option<Spanned<i64>>,
    pub image_repository: Option<Spanned<String>>,
    pub image_tag: Option<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub schedule: Option<Spanned<String>>,
    pub env: Vec<(Spanned<String>, Spanned<String>)>,
    pub components: Vec<Spanned<String>>,
    pub params: Vec<(Spanned<String>, Spanned<Value>)>,
    pub regions: Option<Vec<Spanned<String>>>,
    /// `image.digest`; only counts where the tag is set at the same level or below.
    pub image_digest: Option<Spanned<String>>,
    pub migration: Option<migration::MigrationLayer>,
    pub alerts: Option<alerts::AlertsLayer>,
    pub rollout: Option<rollout::RolloutLayer>,
    pub flags: Vec<flags::FlagSpec>,
}

#[derive(Clone, Debug)]
pub struct Profile {
    pub name: Spanned<String>,
    pub archetype: Spanned<String>,
    pub components: Vec<Spanned<String>>,
    pub defaults: Layer,
}

#[derive(Clone, Debug)]
pub struct Resources {
    pub cpu: Option<Spanned<String>>,
    pub memory: Option<Spanned<String>>,
}

#[derive(Clone, Debug)]
pub struct Autoscaling {
    pub min: Spanned<i64>,
    pub max: Spanned<i64>,
    pub cpu_utilization: Spanned<i64>,
}

#[derive(Clone, Debug)]
pub struct Size {
    pub name: Spanned<String>,
    pub replicas: Spanned<i64>,
    pub requests: Resources,
    pub limits: Resources,
    pub autoscaling: Option<Autoscaling>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    Auto,
    FastLane,
    Manual,
}

impl Approval {
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Auto => "auto",
            Approval::FastLane => "fast-lane",
            Approval::Manual => "manual",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Region {
    pub name: Spanned<String>,
    pub cluster: Spanned<String>,
}

#[derive(Clone, Debug)]
pub struct Environment {
    pub name: Spanned<String>,
    pub approval: Approval,
    pub regions: Vec<Region>,
    /// Targets without an image digest are refused.
    pub require_digest: bool,
    /// How long a version runs here before `promote` moves it on, in seconds.
    pub soak: Option<Spanned<u64>>,
    /// Where rollout analysis sends its queries.
    pub prometheus: Option<Spanned<String>>,
    /// A template for pull-request previews (`stamp preview`), never a target
    /// of `stamp build`; it has exactly one region.
    pub preview: bool,
}

#[derive(Clone, Debug)]
pub struct Team {
    pub name: Spanned<String>,
    pub github: Spanned<String>,
    pub slack: Option<Spanned<String>>,
}

#[derive(Clone, Debug)]
pub struct Owners {
    pub team: Spanned<String>,
    pub slack: Option<Spanned<String>>,
    pub oncall: Option<Spanned<String>>,
}

#[derive(Clone, Debug)]
pub struct Service {
    /// `catalog/services/<name>.yaml`
    pub file: String,
    pub name: Spanned<String>,
    pub profile: Spanned<String>,
    pub environments: Vec<Spanned<String>>,
    pub layer: Layer,
    pub overrides: Vec<(Spanned<String>, Layer)>,
    pub owners: Owners,
    /// Waived policy rules, top level and per environment.
    pub policy_exceptions: Vec<policy_exceptions::PolicyException>,
}

/// Named entries of one shared file, in file order. Entries with errors are
/// left out but remembered, so that whoever refers to them fails quietly
/// instead of repeating the error.
#[derive(Clone, Debug)]
pub struct Table<T> {
    pub file: &'static str,
    pub items: Vec<T>,
    index: HashMap<String, usize>,
    pub broken: BTreeSet<String>,
    /// The file could not be read at all: every name in it counts as broken.
    pub file_broken: bool,
}

pub enum Lookup<'a, T> {
    Found(&'a T),
    Broken,
    Missing,
}

impl<T> Table<T> {
    fn new(file: &'static str) -> Table<T> {
        Table {
            file,
            items: Vec::new(),
            index: HashMap::new(),
            broken: BTreeSet::new(),
            file_broken: false,
        }
    }

    fn insert(&mut self, name: &str, item: Option<T>) {
        match item {
            Some(item) => {
                self.index.insert(name.to_string(), self.items.len());
                self.items.push(item);
            }
            None => {
                self.broken.insert(name.to_string());
            }
        }
    }

    pub fn lookup(&self, name: &str) -> Lookup<'_, T> {
        match self.index.get(name) {
            Some(&i) => Lookup::Found(&self.items[i]),
            None if self.file_broken || self.broken.contains(name) => Lookup::Broken,
            None => Lookup::Missing,
        }
    }

    pub fn get(&self, name: &str) -> Option<&T> {
        self.index.get(name).map(|&i| &self.items[i])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index
            .keys()
            .map(String::as_str)
            .chain(self.broken.iter().map(String::as_str))
    }
}

#[derive(Clone, Debug)]
pub struct Catalog {
    pub settings: Settings,
    pub profiles: Table<Profile>,
    pub sizes: Table<Size>,
    pub environments: Table<Environment>,
    pub teams: Table<Team>,
    pub services: Vec<Service>,
    /// Stems of service files that could not be read; their output is kept.
    pub broken_services: BTreeSet<String>,
    /// True when a file every target depends on (stamp.yaml) is broken.
    pub settings_broken: bool,
}

const SERVICE_KEYS: &[&str] = &[
    "name",
    "profile",
    "size",
    "environments",
    "image",
    "port",
    "schedule",
    "env",
    "components",
    "replicas",
    "params",
    "overrides",
    "owners",
    "migration",
    "alerts",
    "rollout",
    "flags",
    "policy_exceptions",
];
const OVERRIDE_KEYS: &[&str] = &[
    "size",
    "replicas",
    "image",
    "port",
    "schedule",
    "env",
    "components",
    "params",
    "regions",
    "migration",
    "alerts",
    "rollout",
    "flags",
    "policy_exceptions",
];
const PROFILE_DEFAULT_KEYS: &[&str] = &[
    "size",
    "replicas",
    "image",
    "port",
    "schedule",
    "env",
    "params",
    "migration",
    "alerts",
    "rollout",
    "flags",
];

/// Reads the whole catalog. Every problem is returned; what could be read is kept.
pub fn parse(sources: &Sources) -> (Catalog, Vec<Diagnostic>) {
    // Files the loader could not read (too large, not UTF-8, not a regular
    // file) are absent from `sources`: each is one error at its path, and
    // whatever it held counts as broken, never as missing or removed.
    let mut diags: Vec<Diagnostic> = sources.problems().to_vec();
    let (settings, settings_broken) = parse_settings(sources, &mut diags);
    let profiles = parse_table(sources, PROFILES_FILE, "profiles", &mut diags, read_profile);
    let sizes = parse_table(sources, SIZES_FILE, "sizes", &mut diags, read_size);
    let environments = parse_table(sources, ENVIRONMENTS_FILE, "environments", &mut diags, read_environment);
    one_preview_environment(&environments, &mut diags);
    if environments.items.iter().any(|e| e.preview) {
        check_github_repo(&settings, &mut diags);
    }
    let teams = parse_table(sources, TEAMS_FILE, "teams", &mut diags, read_team);

    let mut services = Vec::new();
    let mut broken_services: BTreeSet<String> = sources
        .problems()
        .iter()
        .filter_map(|d| d.file.strip_prefix(SERVICES_DIR)?.strip_suffix(".yaml"))
        .map(str::to_string)
        .collect();
    // Service files are independent: parse them on every core.
    let files: Vec<(&str, &str)> = sources.files_under(SERVICES_DIR).collect();
    for (path, _) in files.iter().filter(|(path, _)| !path.ends_with(".yaml")) {
        diags.push(
            Diagnostic::new(
                *path,
                Pos::START,
                "service files are named `<service>.yaml`; this file is not read",
            )
            .with_hint("rename it, or move it out of `catalog/services/`"),
        );
    }
    // `map`, not `filter_map`: an indexed collect writes each result in
    // place, without the intermediate vectors an unindexed one grows.
    let parsed: Vec<Option<_>> = files
        .par_iter()
        .map(|&(path, text)| {
            let stem = path.strip_prefix(SERVICES_DIR)?.strip_suffix(".yaml")?;
            let mut reader = Reader::new(path);
            let service = match sources.parse_tree(path, text) {
                Ok(node) => read_service(&mut reader, &node, stem),
                Err(d) => {
                    reader.push(d);
                    None
                }
            };
            Some((stem, service.filter(|_| reader.diags.is_empty()), reader.diags))
        })
        .collect();
    services.reserve(parsed.len());
    for (stem, service, mut service_diags) in parsed.into_iter().flatten() {
        match service {
            Some(service) => services.push(service),
            None => {
                broken_services.insert(stem.to_string());
            }
        }
        diags.append(&mut service_diags);
    }
    let catalog = Catalog {
        settings,
        profiles,
        sizes,
        environments,
        teams,
        services,
        broken_services,
        settings_broken,
    };
    (catalog, diags)
}

fn parse_settings(sources: &Sources, diags: &mut Vec<Diagnostic>) -> (Settings, bool) {
    let mut settings = Settings::default();
    let Some(text) = sources.get(STAMP_FILE) else {
        return (settings, has_problem(sources, STAMP_FILE));
    };
    let mut r = Reader::new(STAMP_FILE);
    match yaml_tree::parse(STAMP_FILE, text) {
        Err(d) => r.push(d),
        Ok(node) => {
            if let Some(f) = r.map(&node, "stamp.yaml", &["repo_url", "platform_team", "argocd"]) {
                if let Some(n) = f.get("repo_url") {
                    settings.repo_url_pos = n.pos;
                    settings.repo_url = r.string(n, "repo_url").map(|s| s.value);
                }
                if let Some(n) = f.get("platform_team")
                    && let Some(team) = r.string(n, "platform_team")
                {
                    check_github_owner(&mut r, &team);
                    settings.platform_team = team.value;
                }
                if let Some(argo) = f
                    .get("argocd")
                    .and_then(|n| r.map(n, "argocd", &["namespace", "project", "revision"]))
                {
                    if let Some(v) = argo.get("namespace").and_then(|n| r.name(n, "argocd.namespace")) {
                        settings.argocd_namespace = v.value;
                    }
                    if let Some(v) = argo.get("project").and_then(|n| r.string(n, "argocd.project")) {
                        settings.argocd_project = v.value;
                    }
                    if let Some(v) = argo.get("revision").and_then(|n| r.string(n, "argocd.revision")) {
                        settings.argocd_revision = v.value;
                    }
                }
            }
        }
    }
    let broken = !r.diags.is_empty();
    diags.append(&mut r.diags);
    (settings, broken)
}

/// True when the loader could not read `path` (its problem is reported already).
fn has_problem(sources: &Sources, path: &str) -> bool {
    sources.problems().iter().any(|d| d.file == path)
}

/// Reads `<top>: { name: entry, ... }` files (profiles, sizes, environments, teams).
fn parse_table<T>(
    sources: &Sources,
    file: &'static str,
    top: &'static str,
    diags: &mut Vec<Diagnostic>,
    read: fn(&mut Reader, Spanned<String>, &Node) -> Option<T>,
) -> Table<T> {
    let mut table = Table::new(file);
    let Some(text) = sources.get(file) else {
        table.file_broken = true;
        if has_problem(sources, file) {
            return table;
        }
        diags.push(
            Diagnostic::new(file, Pos::START, format!("`{file}` is missing"))
                .with_hint("`stamp init` scaffolds a catalog"),
        );
        return table;
    };
    let mut r = Reader::new(file);
    table.file_broken = true;
    match yaml_tree::parse(file, text) {
        Err(d) => r.push(d),
        Ok(node) => {
            if let Some(f) = r.map(&node, file, &[top])
                && let Some(entries) = r.require(&f, top, file).map(|n| r.entries(n, top))
            {
                table.file_broken = false;
                for (name, node) in entries {
                    let before = r.diags.len();
                    let item = r
                        .name(&node_at(&name), "name")
                        .and_then(|name| read(&mut r, name, node));
                    let item = item.filter(|_| r.diags.len() == before);
                    table.insert(&name.value, item);
                }
            }
        }
    }
    diags.append(&mut r.diags);
    table
}

/// A scalar node for a map key, so keys are checked like any value.
fn node_at(name: &Spanned<String>) -> Node {
    Node {
        pos: name.pos,
        kind: yaml_tree::NodeKind::Scalar {
            text: name.value.clone(),
            plain: false,
        },
    }
}

fn read_profile(r: &mut Reader, name: Spanned<String>, node: &Node) -> Option<Profile> {
    let what = format!("profile `{}`", name.value);
    let f = r.map(node, &what, &["archetype", "components", "defaults"])?;
    let archetype = r.require(&f, "archetype", &what).and_then(|n| r.string(n, "archetype"));
    let components = f.get("components").map(|n| r.list(n, "components")).unwrap_or_default();
    let defaults = match f.get("defaults") {
        Some(n) => read_layer(r, n, &format!("the defaults of {what}"), PROFILE_DEFAULT_KEYS)?,
        None => Layer::default(),
    };
    Some(Profile {
        name,
        archetype: archetype?,
        components,
        defaults,
    })
}

fn read_resources(r: &mut Reader, node: &Node, what: &str) -> Option<Resources> {
    let f = r.map(node, what, &["cpu", "memory"])?;
    let mut quantity = |key: &str| {
        let value = r.string(f.get(key)?, &format!("{what}.{key}"))?;
        let problem = match parse_quantity(&value.value) {
            Ok(_) if key == "memory" => memory_problem(&value.value),
            Ok(_) => None,
            Err(problem) => Some((problem, suggest_quantity(&value.value))),
        };
        match problem {
            None => Some(value),
            Some((problem, meant)) => {
                let d = Diagnostic::new(r.file, value.pos, format!("{what}.{key}: {problem}"));
                r.push(match meant {
                    Some(meant) => d.with_hint(format!("did you mean `{meant}`?")),
                    None => d,
                });
                None
            }
        }
    };
    Some(Resources {
        cpu: quantity("cpu"),
        memory: quantity("memory"),
    })
}

fn read_size(r: &mut Reader, name: Spanned<String>, node: &Node) -> Option<Size> {
    let what = format!("size `{}`", name.value);
    let f = r.map(node, &what, &["replicas", "requests", "limits", "autoscaling"])?;
    let replicas = r
        .require(&f, "replicas", &what)
        .and_then(|n| r.int(n, "replicas", 0, 10_000));
    let requests = r
        .require(&f, "requests", &what)
        .and_then(|n| read_resources(r, n, "requests"));
    let limits = r
        .require(&f, "limits", &what)
        .and_then(|n| read_resources(r, n, "limits"));
    if let (Some(requests), Some(limits)) = (&requests, &limits) {
        check_requests_within_limits(r, &what, requests, limits);
    }
    let autoscaling = match f.get("autoscaling") {
        None => None,
        Some(n) => Some(read_autoscaling(r, n, &what)?),
    };
    Some(Size {
        name,
        replicas: replicas?,
        requests: requests?,
        limits: limits?,
        autoscaling,
    })
}

/// A request above its limit is reported at the request.
fn check_requests_within_limits(r: &mut Reader, what: &str, requests: &Resources, limits: &Resources) {
    for (key, request, limit) in [
        ("cpu", &requests.cpu, &limits.cpu),
        ("memory", &requests.memory, &limits.memory),
    ] {
        let (Some(request), Some(limit)) = (request, limit) else {
            continue;
        };
        let (Ok(req), Ok(lim)) = (parse_quantity(&request.value), parse_quantity(&limit.value)) else {
            continue;
        };
        if req > lim {
            r.push(
                Diagnostic::new(
                    r.file,
                    request.pos,
                    format!(
                        "requests.{key} `{}` of {what} is above its limits.{key} `{}`",
                        request.value, limit.value
                    ),
                )
                .with_hint(format!("the limit is set on line {}", limit.pos.line)),
            );
        }
    }
}

/// A size's `autoscaling` block: min 1 or more, and not above max.
fn read_autoscaling(r: &mut Reader, n: &Node, what: &str) -> Option<Autoscaling> {
    let a = r.map(n, "autoscaling", &["min", "max", "cpu_utilization"])?;
    let min = r
        .require(&a, "min", "autoscaling")
        .and_then(|n| r.int(n, "autoscaling.min", 0, 10_000))
        .filter(|min| {
            if min.value == 0 {
                r.push(
                    Diagnostic::new(
                        r.file,
                        min.pos,
                        format!("autoscaling.min of {what} is 0; a HorizontalPodAutoscaler scales between 1 and max"),
                    )
                    .with_hint("set `min: 1` or more; a service meant to stop removes hpa and sets `replicas: 0`"),
                );
            }
            min.value > 0
        });
    let max = r
        .require(&a, "max", "autoscaling")
        .and_then(|n| r.int(n, "autoscaling.max", 1, 10_000));
    let cpu = r
        .require(&a, "cpu_utilization", "autoscaling")
        .and_then(|n| r.int(n, "autoscaling.cpu_utilization", 1, 100));
    let (min, max, cpu) = (min?, max?, cpu?);
    if min.value > max.value {
        r.error(
            min.pos,
            format!(
                "autoscaling.min {} of {what} is above autoscaling.max {}",
                min.value, max.value
            ),
        );
    }
    Some(Autoscaling {
        min,
        max,
        cpu_utilization: cpu,
    })
}

fn read_environment(r: &mut Reader, name: Spanned<String>, node: &Node) -> Option<Environment> {
    let what = format!("environment `{}`", name.value);
    let f = r.map(
        node,
        &what,
        &["approval", "regions", "require_digest", "soak", "prometheus", "preview"],
    )?;
    let prometheus = f
        .get("prometheus")
        .and_then(|n| r.string(n, "prometheus"))
        .filter(|url| {
            let ok = (url.value.starts_with("http://") || url.value.starts_with("https://"))
                && !url.value.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                r.push(
                    Diagnostic::new(
                        r.file,
                        url.pos,
                        if url.value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                            "prometheus holds a space or a line break; it takes one http(s) address".to_string()
                        } else {
                            format!("prometheus `{}` is not an http(s) address", url.value)
                        },
                    )
                    .with_hint("write the address rollout analysis queries, e.g. `http://prometheus.monitoring:9090`"),
                );
            }
            ok
        });
    let approval = match f.get("approval") {
        None => Some(Approval::Manual),
        Some(n) => r
            .one_of(n, "approval", &["auto", "fast-lane", "manual"])
            .map(|a| match a.as_str() {
                "auto" => Approval::Auto,
                "fast-lane" => Approval::FastLane,
                _ => Approval::Manual,
            }),
    };
    let mut regions = Vec::new();
    if let Some(n) = r.require(&f, "regions", &what) {
        for (region, node) in r.entries(n, "regions") {
            let Some(region) = r.name(&node_at(&region), "region") else {
                continue;
            };
            let Some(rf) = r.map(node, &format!("region `{}`", region.value), &["cluster"]) else {
                continue;
            };
            if let Some(cluster) = r
                .require(&rf, "cluster", &format!("region `{}`", region.value))
                .and_then(|n| r.string(n, "cluster"))
            {
                regions.push(Region { name: region, cluster });
            }
        }
        if regions.is_empty() && r.diags.is_empty() {
            r.error(n.pos, format!("{what} has no regions"));
        }
    }
    let require_digest = f.get("require_digest").is_some_and(|n| {
        r.one_of(n, "require_digest", &["true", "false"])
            .is_some_and(|v| v.value == "true")
    });
    let soak = f.get("soak").and_then(|n| read_soak(r, n));
    let preview = match f.get("preview") {
        None => Some(false),
        Some(n) => read_preview(r, n, &what, &regions),
    };
    Some(Environment {
        name,
        approval: approval?,
        regions,
        require_digest,
        soak,
        prometheus,
        preview: preview?,
    })
}

/// Previews have one ApplicationSet and one AppProject: a second preview
/// environment is an error at its name (so the build fails closed).
fn one_preview_environment(environments: &Table<Environment>, diags: &mut Vec<Diagnostic>) {
    let mut previews = environments.items.iter().filter(|e| e.preview);
    let Some(first) = previews.next().map(|e| e.name.value.clone()) else {
        return;
    };
    for name in previews.map(|e| &e.name) {
        diags.push(
            Diagnostic::new(
                environments.file,
                name.pos,
                format!(
                    "environment `{}` is a second preview environment; `{first}` is one already",
                    name.value
                ),
            )
            .with_hint("mark one environment `preview: true`"),
        );
    }
}

/// GitHub's owner and repository: the last two path segments of `repo_url`,
/// without `.git` (`https://github.com/acme/platform.git`,
/// `git@github.com:acme/platform`).
pub fn github_repo(repo_url: &str) -> Option<(&str, &str)> {
    let trimmed = repo_url.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
    let mut segments = trimmed.rsplit(['/', ':']);
    let repo = segments.next().filter(|s| !s.is_empty())?;
    let owner = segments.next().filter(|s| !s.is_empty())?;
    Some((owner, repo))
}

/// The preview ApplicationSet's pull request generator needs GitHub's owner
/// and repository from `repo_url`.
fn check_github_repo(settings: &Settings, diags: &mut Vec<Diagnostic>) {
    if let Some(url) = &settings.repo_url
        && github_repo(url).is_none()
    {
        diags.push(
            Diagnostic::new(
                STAMP_FILE,
                settings.repo_url_pos,
                format!(
                    "repo_url `{url}` has no owner and repository for the preview environment's pull request generator"
                ),
            )
            .with_hint("write the GitHub address, e.g. `https://github.com/acme/platform`"),
        );
    }
}

/// `preview: true|false`; a preview environment has exactly one region,
/// since a pull request's preview runs in one cluster.
fn read_preview(r: &mut Reader, node: &Node, what: &str, regions: &[Region]) -> Option<bool> {
    let preview = r.bool(node, "preview")?;
    if preview && regions.len() != 1 {
        r.push(
            Diagnostic::new(
                r.file,
                node.pos,
                format!(
                    "{what} is a preview environment with {} regions; a preview environment has exactly one",
                    regions.len()
                ),
            )
            .with_hint("keep the one region preview namespaces are created in"),
        );
        return None;
    }
    Some(preview)
}

/// `soak: 24h`: a whole number of seconds (`s`), minutes (`m`), hours (`h`) or days (`d`).
fn read_soak(r: &mut Reader, node: &Node) -> Option<Spanned<u64>> {
    let text = r.string(node, "soak")?;
    match parse_duration(&text.value) {
        Some(seconds) => Some(Spanned::new(seconds, text.pos)),
        None => {
            r.push(
                Diagnostic::new(r.file, text.pos, format!("soak `{}` is not a duration", text.value))
                    .with_hint("use a whole number and a unit: `30m`, `24h`, `2d`"),
            );
            None
        }
    }
}

/// Seconds in `90s`, `30m`, `24h`, `2d`.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let number = &text[..text.len() - 1];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<u64>().ok()?.checked_mul(unit)
}

/// A CODEOWNERS owner: `@user`, `@org/team` or an email address.
fn check_github_owner(r: &mut Reader, owner: &Spanned<String>) -> bool {
    let v = &owner.value;
    let handle_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    let ok = match v.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((org, team)) => handle_ok(org) && handle_ok(team),
            None => handle_ok(rest),
        },
        None => v.contains('@') && !v.contains(char::is_whitespace) && !v.starts_with('@'),
    };
    if !ok {
        r.push(
            Diagnostic::new(r.file, owner.pos, format!("`{v}` is not a GitHub owner"))
                .with_hint("use `@user`, `@org/team` or an email address"),
        );
    }
    ok
}

fn read_team(r: &mut Reader, name: Spanned<String>, node: &Node) -> Option<Team> {
    let what = format!("team `{}`", name.value);
    let f = r.map(node, &what, &["github", "slack"])?;
    let github = r.require(&f, "github", &what).and_then(|n| r.string(n, "github"))?;
    check_github_owner(r, &github);
    let slack = f.get("slack").and_then(|n| r.string(n, "slack"));
    Some(Team { name, github, slack })
}

fn read_layer(r: &mut Reader, node: &Node, what: &str, allowed: &[&'static str]) -> Option<Layer> {
    let f = r.map(node, what, allowed)?;
    let mut layer = read_layer_fields(r, &f)?;
    if let Some(n) = f.get("flags") {
        layer.flags = flags::read(r, n, what.starts_with("overrides."));
    }
    Some(layer)
}

fn read_layer_fields(r: &mut Reader, f: &Fields) -> Option<Layer> {
    let mut layer = Layer {
        size: f.get("size").and_then(|n| r.string(n, "size")),
        replicas: f.get("replicas").and_then(|n| r.int(n, "replicas", 0, 10_000)),
        port: f.get("port").and_then(|n| r.int(n, "port", 1, 65_535)),
        schedule: f.get("schedule").and_then(|n| r.string(n, "schedule")),
        components: f.get("components").map(|n| r.list(n, "components")).unwrap_or_default(),
        regions: f.get("regions").map(|n| r.list(n, "regions")),
        rollout: f.get("rollout").and_then(|n| rollout::read(r, n)),
        ..Layer::default()
    };
    if let Some(schedule) = &layer.schedule
        && let Some(problem) = cron_problem(&schedule.value)
    {
        r.error(
            schedule.pos,
            format!("schedule `{}` is not a cron schedule: {problem}", schedule.value),
        );
    }
    if let Some(image) = f
        .get("image")
        .and_then(|n| r.map(n, "image", &["repository", "tag", "digest"]))
    {
        layer.image_repository = image
            .get("repository")
            .and_then(|n| r.string(n, "image.repository"))
            .filter(|v| check_image(r, v, "image.repository", image_ref::repository_problem));
        layer.image_tag = image
            .get("tag")
            .and_then(|n| r.string(n, "image.tag"))
            .filter(|v| check_image(r, v, "image.tag", image_ref::tag_problem))
            .filter(|v| check_tag_label(r, v));
        layer.image_digest = image
            .get("digest")
            .and_then(|n| r.string(n, "image.digest"))
            .filter(|v| check_image(r, v, "image.digest", image_ref::digest_problem));
    }
    if let Some(env) = f.get("env") {
        for (key, value) in r.entries(env, "env") {
            if !is_env_name(&key.value) {
                r.error(
                    key.pos,
                    format!("`{}` is not a valid environment variable name", key.value),
                );
                continue;
            }
            // Unquoted scalars (`true`, `8080`, `1.10`) keep their exact text.
            match value.scalar() {
                Some(text) => layer.env.push((
                    key,
                    Spanned::new(
                        if value.is_null() {
                            String::new()
                        } else {
                            text.to_string()
                        },
                        value.pos,
                    ),
                )),
                None => r.error(
                    value.pos,
                    format!("env `{}` must be a scalar, found {}", key.value, value.kind_name()),
                ),
            }
        }
    }
    if let Some(params) = f.get("params") {
        for (key, value) in r.entries(params, "params") {
            let json = node_to_json(value);
            layer.params.push((key, Spanned::new(json, value.pos)));
        }
    }
    layer.migration = f.get("migration").and_then(|n| migration::read(r, n));
    layer.alerts = f.get("alerts").and_then(|n| alerts::read(r, n));
    Some(layer)
}

/// Reports `value` when the OCI reference grammar refuses it; true when valid.
fn check_image(
    r: &mut Reader,
    value: &Spanned<String>,
    what: &str,
    problem: fn(&str) -> Option<image_ref::Problem>,
) -> bool {
    let Some(problem) = problem(&value.value) else {
        return true;
    };
    let message = match value.value.as_str() {
        "" => format!("{what} is empty"),
        v => format!("{what} `{v}` is not a valid image reference: {}", problem.reason),
    };
    let d = Diagnostic::new(r.file, value.pos, message);
    r.push(match problem.suggestion {
        Some(meant) => d.with_hint(format!("did you mean `{meant}`?")),
        None => d,
    });
    false
}

/// Reports a tag that cannot be the version label; true when it can.
fn check_tag_label(r: &mut Reader, tag: &Spanned<String>) -> bool {
    let Some(problem) = image_ref::tag_label_problem(&tag.value) else {
        return true;
    };
    let d = Diagnostic::new(
        r.file,
        tag.pos,
        format!(
            "image.tag `{}` is not a valid label value: {}",
            tag.value, problem.reason
        ),
    );
    r.push(match problem.suggestion {
        Some(meant) => d.with_hint(format!("did you mean `{meant}`?")),
        None => d,
    });
    false
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Why `schedule` is not a five-field cron expression or macro, if it is not.
fn cron_problem(schedule: &str) -> Option<&'static str> {
    if schedule.starts_with('@') {
        let macros = [
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
        ];
        return (!macros.contains(&schedule)).then_some("unknown macro");
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Some("expected five fields: minute hour day-of-month month day-of-week");
    }
    let ok = fields.iter().all(|f| {
        f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-' | '?'))
    });
    (!ok).then_some("a field has characters cron does not accept")
}

fn read_service(r: &mut Reader, node: &Node, stem: &str) -> Option<Service> {
    let f = r.map(node, "a service", SERVICE_KEYS)?;
    let what = "the service";
    let name = r.require(&f, "name", what).and_then(|n| r.name(n, "name"));
    if let Some(name) = &name
        && name.value != stem
    {
        r.push(
            Diagnostic::new(
                r.file,
                name.pos,
                format!("name `{}` differs from the file name `{stem}.yaml`", name.value),
            )
            .with_hint(format!(
                "rename the file to `{}.yaml` or set `name: {stem}`",
                name.value
            )),
        );
    }
    if let Some(name) = name.as_ref().filter(|n| n.value == "argocd") {
        r.error(
            name.pos,
            "`argocd` is reserved: `generated/argocd/` holds the ApplicationSets",
        );
    }
    let profile = r.require(&f, "profile", what).and_then(|n| r.string(n, "profile"));
    r.require(&f, "size", what);
    let environments = r.require(&f, "environments", what).map(|n| r.list(n, "environments"));
    let mut layer = read_layer_fields(r, &f);
    if let (Some(layer), Some(n)) = (&mut layer, f.get("flags")) {
        layer.flags = flags::read(r, n, false);
    }
    let owners = r.require(&f, "owners", what).and_then(|n| {
        let o = r.map(n, "owners", &["team", "slack", "oncall"])?;
        Some(Owners {
            team: r
                .require(&o, "team", "owners")
                .and_then(|n| r.string(n, "owners.team"))?,
            slack: o.get("slack").and_then(|n| r.string(n, "owners.slack")),
            oncall: o.get("oncall").and_then(|n| r.string(n, "owners.oncall")),
        })
    });
    let today = policy_exceptions::today();
    let mut exceptions = f
        .get("policy_exceptions")
        .map(|n| policy_exceptions::read(r, n, None, &today))
        .unwrap_or_default();
    let mut overrides = Vec::new();
    if let Some(n) = f.get("overrides") {
        for (env, node) in r.entries(n, "overrides") {
            let what = format!("overrides.{}", env.value);
            if let NodeKind::Map(entries) = &node.kind
                && let Some((_, list)) = entries.iter().find(|(k, _)| k.scalar() == Some("policy_exceptions"))
            {
                exceptions.extend(policy_exceptions::read(r, list, Some(&env.value), &today));
            }
            if let Some(layer) = read_layer(r, node, &what, OVERRIDE_KEYS) {
                overrides.push((env, layer));
            }
        }
    }
    Some(Service {
        file: r.file.to_string(),
        name: name?,
        profile: profile?,
        environments: environments?,
        layer: layer?,
        overrides,
        owners: owners?,
        policy_exceptions: exceptions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "name: good\nprofile: p\nsize: small\nenvironments: [dev]\nimage: { repository: ghcr.io/a/good, tag: \"1\" }\nowners: { team: t }\n";

    fn catalog_sources() -> Sources {
        let mut sources = Sources::default();
        sources.insert(PROFILES_FILE, "profiles:\n  p: { archetype: worker }\n");
        sources.insert(
            SIZES_FILE,
            "sizes:\n  small:\n    replicas: 1\n    requests: { cpu: 100m, memory: 128Mi }\n    limits: { cpu: 100m, memory: 128Mi }\n",
        );
        sources.insert(
            ENVIRONMENTS_FILE,
            "environments:\n  dev:\n    regions: { eu: { cluster: https://x } }\n",
        );
        sources.insert(TEAMS_FILE, "teams:\n  t: { github: \"@a/t\" }\n");
        sources.insert("catalog/services/good.yaml", SERVICE);
        sources
    }

    fn problem(path: &str) -> Diagnostic {
        Diagnostic::new(path, Pos::START, format!("`{path}` is not UTF-8 text"))
    }

    #[test]
    fn an_unreadable_service_file_is_one_error_and_a_broken_service() {
        let mut sources = catalog_sources();
        sources.push_problem(problem("catalog/services/bad.yaml"));
        let (catalog, diags) = parse(&sources);
        assert_eq!(diags, [problem("catalog/services/bad.yaml")]);
        assert_eq!(catalog.broken_services, BTreeSet::from(["bad".to_string()]));
        assert_eq!(catalog.services.len(), 1);
        assert_eq!(catalog.services[0].name.value, "good");
    }

    #[test]
    fn an_unreadable_shared_file_is_broken_not_missing() {
        let mut missing = Sources::default();
        for (path, text) in catalog_sources().iter().filter(|(p, _)| *p != SIZES_FILE) {
            missing.insert(path, text);
        }
        let mut unreadable = missing.clone();
        unreadable.push_problem(problem(SIZES_FILE));
        unreadable.push_problem(problem(STAMP_FILE));
        let (catalog, diags) = parse(&unreadable);
        assert_eq!(diags, [problem(SIZES_FILE), problem(STAMP_FILE)]);
        assert!(catalog.sizes.file_broken);
        assert!(matches!(catalog.sizes.lookup("small"), Lookup::Broken));
        assert!(catalog.settings_broken);
        // Without the problem, a missing file says so.
        let (_, diags) = parse(&missing);
        assert!(diags.iter().any(|d| d.message == "`catalog/sizes.yaml` is missing"));
    }

    /// The diagnostics of one service file.
    fn service_diags(text: &str) -> Vec<Diagnostic> {
        let mut sources = catalog_sources();
        sources.insert("catalog/services/good.yaml", text);
        parse(&sources).1
    }

    #[test]
    fn image_references_are_checked_where_they_are_written() {
        let upper = SERVICE.replace("ghcr.io/a/good", "ghcr.io/A/Good");
        let diags = service_diags(&upper);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].pos, Pos::new(5, 22));
        assert_eq!(
            diags[0].message,
            "image.repository `ghcr.io/A/Good` is not a valid image reference: the repository path must be lowercase"
        );
        assert_eq!(diags[0].hint.as_deref(), Some("did you mean `ghcr.io/a/good`?"));
        let empty_tag = format!("{SERVICE}overrides:\n  dev:\n    image: {{ tag: \"\" }}\n");
        let diags = service_diags(&empty_tag);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].pos, Pos::new(9, 19));
        assert_eq!(diags[0].message, "image.tag is empty");
    }

    #[test]
    fn memory_in_milli_and_autoscaling_to_zero_are_refused() {
        let mut sources = catalog_sources();
        sources.insert(
            SIZES_FILE,
            "sizes:\n  small:\n    replicas: 1\n    requests: { cpu: 100m, memory: 128m }\n    limits: { cpu: 100m, memory: 128Mi }\n    autoscaling: { min: 0, max: 2, cpu_utilization: 50 }\n",
        );
        let (catalog, diags) = parse(&sources);
        let found: Vec<_> = diags.iter().map(|d| (d.pos, d.hint.as_deref())).collect();
        assert_eq!(
            found,
            [
                (Pos::new(4, 36), Some("did you mean `128Mi`?")),
                (
                    Pos::new(6, 25),
                    Some("set `min: 1` or more; a service meant to stop removes hpa and sets `replicas: 0`")
                ),
            ],
            "{diags:#?}"
        );
        assert!(matches!(catalog.sizes.lookup("small"), Lookup::Broken));
        // cpu in milli is what Kubernetes means by it.
        assert!(parse(&catalog_sources()).1.is_empty());
    }
}
