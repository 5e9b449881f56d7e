//! The pipeline from sources to a write plan: load → resolve → render →
//! validate → emit. `build`, `check` and `diff` all start here.

use std::path::Path;

use rayon::prelude::*;

use crate::blueprint;
use crate::catalog::{self, Catalog};
use crate::diagnostic::{Diagnostic, Pos};
use crate::emit::{self, MANIFESTS_FILE, TARGET_FILE, argocd, codeowners};
use crate::fingerprint::{self, Fingerprint};
use crate::load::Sources;
use crate::render::render_target;
use crate::resolve;
use crate::write::Plan;

pub struct Compiled {
    pub plan: Plan,
    pub diags: Vec<Diagnostic>,
    pub sources: Sources,
    pub services: usize,
    pub targets: usize,
    /// Targets rendered this run; the rest were up to date by fingerprint.
    pub rendered: usize,
    pub failed_targets: usize,
    /// Objects of the rendered targets.
    pub objects: usize,
}

/// Whether up-to-date targets may be skipped by their fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    Use,
    Ignore,
}

enum Outcome {
    UpToDate,
    Rendered {
        manifests: String,
        params: String,
        fingerprint: String,
        objects: usize,
    },
    Failed(Vec<Diagnostic>),
}

pub fn compile(root: &Path, sources: Sources, cache: Cache) -> Compiled {
    let (catalog, mut diags) = catalog::parse(&sources);
    let (blueprints, blueprint_diags) = blueprint::parse(&sources);
    diags.extend(blueprint_diags);
    let (resolved, resolve_diags) = resolve::resolve(&catalog, &blueprints);
    diags.extend(resolve_diags);

    let outcomes: Vec<Outcome> = resolved
        .targets
        .par_iter()
        .map(|target| {
            let inputs = fingerprint::inputs(target, &blueprints);
            if cache == Cache::Use && fingerprint::is_up_to_date(root, &target.dir(), inputs) {
                return Outcome::UpToDate;
            }
            match render_target(&blueprints, &sources, target) {
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
            }
        })
        .collect();

    let mut plan = Plan::default();
    let (mut objects, mut rendered, mut failed_targets) = (0, 0, 0);
    for (target, outcome) in resolved.targets.iter().zip(outcomes) {
        let dir = target.dir();
        let paths = [MANIFESTS_FILE, TARGET_FILE, fingerprint::FILE].map(|file| format!("{dir}/{file}"));
        match outcome {
            Outcome::UpToDate => plan.unchanged.extend(paths),
            Outcome::Rendered {
                manifests,
                params,
                fingerprint,
                objects: count,
            } => {
                rendered += 1;
                objects += count;
                plan.files
                    .extend(paths.into_iter().zip([manifests, params, fingerprint]));
            }
            Outcome::Failed(mut target_diags) => {
                failed_targets += 1;
                diags.append(&mut target_diags);
                plan.keep.insert(format!("{dir}/"));
            }
        }
    }
    for service in &resolved.failed_services {
        plan.keep.insert(format!("generated/{service}/"));
    }
    emit_shared(root, &catalog, &mut plan, &mut diags);

    Compiled {
        plan,
        diags,
        sources,
        services: catalog.services.len() + catalog.broken_services.len(),
        targets: resolved.targets.len(),
        rendered,
        failed_targets,
        objects,
    }
}

/// ApplicationSets and CODEOWNERS; each is kept as it is when its inputs are broken.
fn emit_shared(root: &Path, catalog: &Catalog, plan: &mut Plan, diags: &mut Vec<Diagnostic>) {
    let repo_url = catalog.settings.repo_url.clone().or_else(|| origin_url(root));
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

/// The `origin` remote, which `repo_url` defaults to.
fn origin_url(root: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["config", "--get", "remote.origin.url"])
        .current_dir(root)
        .output()
        .ok()?;
    let url = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !url.is_empty()).then_some(url)
}
