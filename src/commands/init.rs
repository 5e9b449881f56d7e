//! `stamp init [DIR]`: a new platform repo from what the binary embeds.

use std::borrow::Cow;
use std::io::Write as _;
use std::path::Path;

use crate::cli::Settings;
use crate::error::{Error, ExitStatus};
use crate::report;

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

const STAMP_YAML: &str = r#"# stamp settings. Every key is optional; repo_url defaults to the origin remote.
repo_url: https://github.com/acme/platform     # the repo Argo CD reads generated/ from
platform_team: "@acme/platform"                 # owns the shared files in CODEOWNERS
argocd:
  namespace: argocd                             # where the ApplicationSets live
  project: default                              # Argo CD project of the Applications
  revision: main                                # the git revision Argo CD tracks
"#;

const MAKEFILE: &str = "# Run `make generate` after editing catalog/, archetypes/ or components/.
STAMP ?= stamp

.PHONY: generate check validate

generate:
\t$(STAMP) build

check:
\t$(STAMP) check

validate:
\t$(STAMP) validate
";

const GITIGNORE: &str =
    "# stamp's local files: write lock, stat and parse caches, no-op snapshot, write marker, temporary files.
generated/.stamp.lock
generated/.stamp-cache
generated/.stamp-tree-cache
generated/.stamp-snapshot
generated/.stamp-writing
.stamp-*.tmp
# `stamp preview` output: CI pushes it to its own `stamp-preview/pr-<number>` branch.
/preview/
";

/// Where stamp's source lives: the pre-commit hooks and the CI workflow
/// install it from here.
pub(crate) const STAMP_REPO: &str = "https://github.com/acme/stamp";

/// `.pre-commit-config.yaml` pinning the commit this binary was built from:
/// no release is tagged yet, and a commit is a ref the repository surely has.
pub(crate) fn pre_commit_config(commit: Option<&str>) -> String {
    match commit {
        Some(commit) => format!(
            "# pre-commit (https://pre-commit.com): `pre-commit install` runs `stamp check`
# before every commit. `rev` is the stamp commit this repo was scaffolded with
# (`stamp --version` prints the one you run); CI installs the same commit.
repos:
  - repo: {STAMP_REPO}
    rev: {commit}
    hooks:
      - id: stamp-check          # fail the commit when generated/ is stale
      # - id: stamp-build        # or: regenerate it (then `git add` the output)
      # `-system` variants (stamp-check-system) use the stamp on PATH instead
      # of building this commit with cargo.
"
        ),
        // Built outside a git checkout, with no commit to pin: run the stamp
        // on PATH, and let CI's pin check say what to add.
        None => format!(
            "# pre-commit (https://pre-commit.com): `pre-commit install` runs `stamp check`
# before every commit, with the stamp on PATH. This stamp was built without a
# git commit to pin; CI needs one: replace this with `repo: {STAMP_REPO}`,
# `rev: <commit>` and `id: stamp-check`.
repos:
  - repo: local
    hooks:
      - id: stamp-check
        name: stamp check
        entry: stamp check
        language: system
        pass_filenames: false
        always_run: true
"
        ),
    }
}

/// Every file `init` writes, in order.
pub(crate) fn scaffold() -> Vec<(&'static str, Cow<'static, str>)> {
    let mut files: Vec<(&str, Cow<str>)> = vec![
        ("stamp.yaml", STAMP_YAML.into()),
        ("Makefile", MAKEFILE.into()),
        (".gitignore", GITIGNORE.into()),
        (
            ".pre-commit-config.yaml",
            pre_commit_config(crate::build_commit()).into(),
        ),
    ];
    files.extend(WORKFLOWS.iter().map(|(p, c)| (*p, Cow::Borrowed(*c))));
    files.extend(EXAMPLE_CATALOG.iter().map(|(p, c)| (*p, Cow::Borrowed(*c))));
    files.extend(BUILTINS.iter().map(|(p, c)| (*p, Cow::Borrowed(*c))));
    files
}

enum Blocked {
    /// The file is there already (a dangling symlink counts).
    Exists(String),
    /// A folder on its way is a symlink, which init would write through.
    Symlink(String),
}

fn blocked(dir: &Path, path: &str) -> Option<Blocked> {
    let mut at = dir.to_path_buf();
    let parts: Vec<&str> = path.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Err(_) => return None,
            Ok(_) if i + 1 == parts.len() => return Some(Blocked::Exists(path.to_string())),
            Ok(meta) if meta.file_type().is_symlink() => return Some(Blocked::Symlink(parts[..=i].join("/"))),
            Ok(_) => {}
        }
    }
    None
}

/// `a`, `b`, `c` and 2 more.
fn some_of(names: &[String]) -> String {
    let mut named: Vec<String> = names.iter().take(3).map(|n| format!("`{n}`")).collect();
    if names.len() > 3 {
        named.push(format!("{} more", names.len() - 3));
    }
    named.join(", ")
}

/// Writes a new file, atomically, and fails rather than replace one that
/// appeared meanwhile.
fn create(path: &Path, content: &str) -> std::io::Result<()> {
    let folder = path.parent().expect("scaffold paths have a parent");
    std::fs::create_dir_all(folder)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".stamp-")
        .suffix(".tmp")
        .tempfile_in(folder)?;
    temp.write_all(content.as_bytes())?;
    temp.persist_noclobber(path).map_err(|e| e.error)?;
    Ok(())
}

pub(crate) fn run(settings: &Settings, dir: &Path) -> Result<ExitStatus, Error> {
    let files = scaffold();
    let (mut existing, mut links) = (Vec::new(), Vec::new());
    for (path, _) in &files {
        match blocked(dir, path) {
            Some(Blocked::Exists(path)) => existing.push(path),
            Some(Blocked::Symlink(link)) if !links.contains(&link) => links.push(link),
            _ => {}
        }
    }
    let mut refusals = Vec::new();
    if !links.is_empty() {
        refusals.push(Error::with_hint(
            format!(
                "{} in `{}` is a symbolic link; init never writes through one",
                some_of(&links),
                dir.display()
            ),
            "run it in an empty folder",
        ));
    }
    if !existing.is_empty() {
        refusals.push(Error::with_hint(
            format!(
                "`{}` already holds {}; init never overwrites a file",
                dir.display(),
                some_of(&existing)
            ),
            "run it in an empty folder",
        ));
    }
    if !refusals.is_empty() {
        return Err(Error::All(refusals));
    }
    for (path, content) in &files {
        let path = dir.join(path);
        create(&path, content).map_err(|source| Error::WriteFile {
            path: path.display().to_string(),
            source,
        })?;
    }
    report::status(
        settings,
        &format!(
            "created a platform repo in `{}`: {} files ({} example services)\nnext: cd {} && stamp build\nthen `git init` and `pre-commit install` to run `stamp check` before every commit",
            dir.display(),
            files.len(),
            EXAMPLE_CATALOG
                .iter()
                .filter(|(p, _)| p.starts_with("catalog/services/"))
                .count(),
            dir.display()
        ),
    );
    Ok(ExitStatus::Ok)
}
