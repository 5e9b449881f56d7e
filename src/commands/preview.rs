//! `stamp preview NAME --base REV`: a pull request's preview environment.
//!
//! The services whose output the change since REV affects (in any
//! environment, or under `overrides.<preview env>`), plus `--service` ones,
//! resolved into the environment marked `preview: true` with namespace
//! `<NAME>-<service>`, rendered and checked like any target, and written to
//! `DIR/<service>/manifests.yaml`. DIR is replaced as a whole, never
//! `generated/`: the workflow pushes it to `stamp-preview/<NAME>`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::catalog::{Catalog, Environment, SERVICES_DIR, Service};
use crate::cli::Settings;
use crate::compile::{Parsed, Resolution, parse_and_resolve, resolve_all};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::error::{Error, ExitStatus};
use crate::load::Sources;
use crate::render::render_target;
use crate::yaml_tree::{self, Node, NodeKind};
use crate::{changes, emit, policy, report, resolve};

/// Marks a folder as `stamp preview` output, which a later run may replace.
pub(crate) const MARKER: &str = ".stamp-preview";

/// From this many services on, a terminal sees progress.
const PROGRESS_FROM: usize = 8;

/// The longest namespace Kubernetes accepts.
const MAX_NAMESPACE: usize = 63;

pub(crate) fn run(
    settings: &Settings,
    name: &str,
    base: &str,
    wanted: &[String],
    out: &Path,
) -> Result<ExitStatus, Error> {
    check_name(name)?;
    let out = output_dir(&settings.root, out)?;
    let old_sources = Sources::from_git(&settings.root, base).map_err(Error::Git)?;
    let new_sources = Sources::from_dir(&settings.root).map_err(|source| Error::ReadRepo {
        root: settings.shown_root.clone(),
        source,
    })?;
    let resolve = |sources: Sources, side: &str| -> Result<Resolution, Error> {
        let resolution = resolve_all(sources);
        if !resolution.diags.is_empty() {
            report::diagnostics(settings, &resolution.sources, &resolution.diags);
            return Err(Error::refused(format!(
                "the catalog at {side} has errors, so no preview is rendered"
            )));
        }
        Ok(resolution)
    };
    let old = resolve(old_sources, &format!("`{base}`"))?;
    let new = resolve(new_sources, "the working tree")?;
    let Parsed {
        catalog, blueprints, ..
    } = parse_and_resolve(&new.sources, resolve::Provenance::Skip, &|_| true);
    let env = preview_env(&catalog)?;
    check_services(&catalog, wanted)?;

    let mut chosen = affected_services(&old, &new)?;
    chosen.extend(overrides_changed(&old.sources, &new.sources, &env.name.value));
    chosen.extend(wanted.iter().cloned());
    let services: Vec<&Service> = catalog
        .services
        .iter()
        .filter(|s| chosen.contains(&s.name.value))
        .collect();
    let (targets, diags) = resolve::resolve_preview(&catalog, &blueprints, env, name, &services);
    if !diags.is_empty() {
        report::diagnostics(settings, &new.sources, &diags);
        return Ok(ExitStatus::Errors);
    }
    let files = match render(settings, &new.sources, &blueprints, &targets) {
        Ok(files) => files,
        Err(diags) => {
            report::diagnostics(settings, &new.sources, &diags);
            return Ok(ExitStatus::Errors);
        }
    };
    replace_dir(&out, &files, name, env).map_err(|source| Error::WriteFile {
        path: out.display().to_string(),
        source,
    })?;
    let mut listing = String::new();
    for target in &targets {
        listing.push_str(&format!("{}\t{}\n", target.service, target.values.namespace));
    }
    report::stdout(&listing);
    report::status(
        settings,
        &format!(
            "previewed {} service(s) in environment `{}` into `{}`",
            targets.len(),
            env.name.value,
            out.display()
        ),
    );
    Ok(ExitStatus::Ok)
}

/// The environment marked `preview: true` (the first, should there be more).
fn preview_env(catalog: &Catalog) -> Result<&Environment, Error> {
    catalog.environments.items.iter().find(|e| e.preview).ok_or_else(|| {
        Error::with_hint(
            "no environment in `catalog/environments.yaml` has `preview: true`",
            "add one environment with one region and `preview: true`",
        )
    })
}

/// Every `--service` names a service file; each that does not is refused
/// with the nearest name.
fn check_services(catalog: &Catalog, wanted: &[String]) -> Result<(), Error> {
    let known = || catalog.services.iter().map(|s| s.name.value.as_str());
    let mut refused: Vec<Error> = wanted
        .iter()
        .filter(|service| !known().any(|s| s == service.as_str()))
        .map(|service| Error::Refused {
            message: format!("service `{service}` is not in `{SERVICES_DIR}`"),
            hint: did_you_mean(service, known()).map(|best| format!("did you mean `{best}`?")),
        })
        .collect();
    match refused.len() {
        0 => Ok(()),
        1 => Err(refused.remove(0)),
        _ => Err(Error::All(refused)),
    }
}

/// NAME is `pr-…`, a DNS label, so that `<NAME>-<service>` can be a namespace.
fn check_name(name: &str) -> Result<(), Error> {
    let label = !name.is_empty()
        && name.len() <= MAX_NAMESPACE
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-');
    if !name.starts_with("pr-") || !label {
        return Err(Error::with_hint(
            format!("preview name `{name}` is not `pr-` followed by lowercase letters, digits and dashes"),
            "the workflow passes `pr-<number>`; namespaces are `<NAME>-<service>`",
        ));
    }
    Ok(())
}

/// Services with a target whose rendered output differs between the two
/// sides, in any environment: the same comparison as `stamp affected`.
fn affected_services(old: &Resolution, new: &Resolution) -> Result<BTreeSet<String>, Error> {
    let [(old_files, old_diags), (new_files, new_diags)] = old.render_differing(new);
    if !old_diags.is_empty() || !new_diags.is_empty() {
        return Err(Error::refused(
            "a target does not render on one side, so the affected services are unknown; run `stamp affected`",
        ));
    }
    let changes = changes::compare(&old_files, &new_files);
    Ok(changes.targets.into_iter().map(|c| c.service).collect())
}

/// Services whose `overrides.<env>` block differs between the two sides
/// (comments, layout and positions aside).
fn overrides_changed(old: &Sources, new: &Sources, env: &str) -> BTreeSet<String> {
    let block = |sources: &Sources, path: &str| -> Option<String> {
        let node = yaml_tree::parse(path, sources.get(path)?).ok()?;
        let overrides = entry(&node, "overrides")?;
        Some(canonical(entry(overrides, env)?))
    };
    new.files_under(SERVICES_DIR)
        .filter_map(|(path, _)| {
            let stem = path.strip_prefix(SERVICES_DIR)?.strip_suffix(".yaml")?;
            (block(old, path) != block(new, path)).then(|| stem.to_string())
        })
        .collect()
}

fn entry<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.scalar() == Some(key)).map(|(_, v)| v),
        _ => None,
    }
}

/// A node's content without positions, for comparison.
fn canonical(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar { text, plain } => format!("{plain}:{text:?}"),
        NodeKind::Seq(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        NodeKind::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}={}", canonical(k), canonical(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// Every preview target rendered, schema-checked and policy-checked like
/// any target, as `<service>/manifests.yaml` → text; or every problem.
fn render(
    settings: &Settings,
    sources: &Sources,
    blueprints: &crate::blueprint::Blueprints,
    targets: &[resolve::Target],
) -> Result<BTreeMap<String, String>, Vec<Diagnostic>> {
    let (policies, policy_diags) = policy::load(sources);
    if !policy_diags.is_empty() {
        return Err(policy_diags);
    }
    let (catalog, _) = crate::catalog::parse(sources);
    let exceptions: HashMap<&str, &[_]> = catalog
        .services
        .iter()
        .map(|s| (s.name.value.as_str(), s.policy_exceptions.as_slice()))
        .collect();
    let progress = targets.len() >= PROGRESS_FROM && !settings.quiet && std::io::stderr().is_terminal();
    let done = AtomicUsize::new(0);
    let rendered: Vec<_> = targets
        .par_iter()
        .map(|target| {
            let objects = render_target(blueprints, sources, target)?;
            let waivers = exceptions.get(target.service.as_str()).copied().unwrap_or_default();
            let checked = policy::check(&policies, target, &objects, waivers);
            if progress {
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                eprint!("\rrendering previews: {n}/{}", targets.len());
            }
            if !checked.denied.is_empty() {
                return Err(checked
                    .denied
                    .iter()
                    .map(|v| v.diagnostic(sources, target, None))
                    .collect());
            }
            Ok((
                format!("{}/{}", target.service, emit::MANIFESTS_FILE),
                emit::manifests(target, &objects),
            ))
        })
        .collect();
    if progress {
        eprintln!();
    }
    let mut files = BTreeMap::new();
    let mut diags = Vec::new();
    for result in rendered {
        match result {
            Ok((path, text)) => {
                files.insert(path, text);
            }
            Err(mut d) => diags.append(&mut d),
        }
    }
    if diags.is_empty() { Ok(files) } else { Err(diags) }
}

/// `path` made absolute against the repo root with `.` and `..` folded,
/// without touching the file system.
fn absolute(root: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in root.join(path).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Where the preview goes, refused when replacing it could lose anything
/// that is not an earlier preview: `generated/`, the repo root or a folder
/// around it, a relative path that leaves the repo, or an existing folder
/// that is neither empty nor stamp preview output.
fn output_dir(root: &Path, out: &Path) -> Result<PathBuf, Error> {
    let root = std::fs::canonicalize(root).map_err(|source| Error::ReadRepo {
        root: root.to_path_buf(),
        source,
    })?;
    // The folder itself may not exist yet; its parent's real path counts.
    let lexical = absolute(&root, out);
    let dir = match (lexical.parent(), lexical.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent).map_or(lexical.clone(), |p| p.join(name)),
        _ => lexical.clone(),
    };
    let shown = out.display();
    let refuse = |why: &str| Err(Error::refused(format!("`{shown}` cannot hold a preview: {why}")));
    if root.starts_with(&dir) {
        return refuse("it is the repo root or holds it");
    }
    if dir.starts_with(root.join("generated")) {
        return refuse("`generated/` holds what Argo CD deploys; previews go elsewhere (default `preview/`)");
    }
    if !out.is_absolute() && !dir.starts_with(&root) {
        return refuse("a relative path must stay inside the repo; give an absolute path");
    }
    match std::fs::symlink_metadata(&dir) {
        Err(_) => Ok(dir),
        Ok(meta) if !meta.is_dir() => refuse("it is not a folder"),
        Ok(_) => {
            let mut entries = std::fs::read_dir(&dir).map_err(|source| Error::WriteFile {
                path: dir.display().to_string(),
                source,
            })?;
            if entries.next().is_none() || dir.join(MARKER).is_file() {
                Ok(dir)
            } else {
                refuse(&format!(
                    "it holds files and no `{MARKER}` from an earlier `stamp preview`"
                ))
            }
        }
    }
}

/// Writes the whole preview beside `dir`, then swaps it in with two
/// renames: a reader sees the old preview or the new one (or, between the
/// renames, none), never a mix, and a failed run leaves the old one.
fn replace_dir(dir: &Path, files: &BTreeMap<String, String>, name: &str, env: &Environment) -> std::io::Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let base = dir
        .file_name()
        .map_or("preview".into(), |n| n.to_string_lossy().into_owned());
    let pid = std::process::id();
    let staged = parent.join(format!(".{base}.stamp-new-{pid}"));
    let retired = parent.join(format!(".{base}.stamp-old-{pid}"));
    std::fs::create_dir_all(parent)?;
    let _ = std::fs::remove_dir_all(&staged);
    std::fs::create_dir(&staged)?;
    let marker = format!(
        "{}: `stamp preview {name}` for environment `{}`; do not edit.\n",
        emit::GENERATED_HEADER,
        env.name.value
    );
    std::fs::write(staged.join(MARKER), marker)?;
    for (path, text) in files {
        let file = staged.join(path);
        if let Some(folder) = file.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(file, text)?;
    }
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &retired)?;
    }
    if let Err(e) = std::fs::rename(&staged, dir) {
        if had_old {
            let _ = std::fs::rename(&retired, dir);
        }
        return Err(e);
    }
    if had_old {
        std::fs::remove_dir_all(&retired)?;
    }
    Ok(())
}
