//! Embeds the built-in archetypes and components, the example catalog and
//! the CI workflow `stamp init` scaffolds, so the binary alone can start a new
//! platform repo; and the git commit the binary is built from, which `init`
//! pins in `.pre-commit-config.yaml` and `--version` prints.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The example services `stamp init` copies: one per archetype.
const EXAMPLE_SERVICES: &[&str] = &["account-service", "notification-worker", "nightly-report"];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["archetypes", "components"] {
        collect(root, dir, &mut files);
        println!("cargo:rerun-if-changed={dir}");
    }
    files.sort();
    let mut example = vec![
        "catalog/profiles.yaml".to_string(),
        "catalog/sizes.yaml".to_string(),
        "catalog/environments.yaml".to_string(),
        "catalog/teams.yaml".to_string(),
    ];
    example.extend(EXAMPLE_SERVICES.iter().map(|s| format!("catalog/services/{s}.yaml")));
    for file in &example {
        println!("cargo:rerun-if-changed={file}");
    }
    for workflow in WORKFLOWS {
        println!("cargo:rerun-if-changed={workflow}");
    }

    let commit = build_commit(root);
    println!("cargo:rustc-env=STAMP_COMMIT={}", commit.as_deref().unwrap_or(""));
    let version = env!("CARGO_PKG_VERSION");
    match &commit {
        Some(commit) => println!("cargo:rustc-env=STAMP_LONG_VERSION={version} (commit {commit})"),
        None => println!("cargo:rustc-env=STAMP_LONG_VERSION={version}"),
    }

    let mut out = String::from("/// Built-in archetypes and components: (repo-relative path, content).\n");
    out.push_str("pub const BUILTINS: &[(&str, &str)] = &[\n");
    for file in &files {
        let _ = writeln!(out, "    ({file:?}, include_str!({:?})),", root.join(file));
    }
    out.push_str("];\n\n/// The example catalog `stamp init` writes.\n");
    out.push_str("pub const EXAMPLE_CATALOG: &[(&str, &str)] = &[\n");
    for file in &example {
        let _ = writeln!(out, "    ({file:?}, include_str!({:?})),", root.join(file));
    }
    out.push_str("];\n\n/// The CI workflows `stamp init` writes, this repository's own.\n");
    out.push_str("pub const WORKFLOWS: &[(&str, &str)] = &[\n");
    for workflow in WORKFLOWS {
        let _ = writeln!(out, "    ({workflow:?}, include_str!({:?})),", root.join(workflow));
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// The workflows a platform repo runs; `init` copies them verbatim.
const WORKFLOWS: [&str; 2] = [
    ".github/workflows/platform.yml",
    ".github/workflows/validate-matrix.yml",
];

/// The full commit hash of the source being built: from git when the crate
/// is the top of a git checkout (`cargo install --path .`, `--git`, a
/// pre-commit clone), else from `.cargo_vcs_info.json` (a crates.io
/// tarball), else none.
fn build_commit(root: &Path) -> Option<String> {
    from_git(root).or_else(|| from_vcs_info(root))
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let mut command = Command::new("git");
    command.arg("-C").arg(root).args(args);
    // A hook or script may point git elsewhere; this must be the source's own repo.
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_CEILING_DIRECTORIES",
    ] {
        command.env_remove(var);
    }
    let out = command.output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| text.trim().to_string())
}

fn from_git(root: &Path) -> Option<String> {
    // A tarball unpacked inside some other repo must not take that repo's commit.
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    let commit = git(root, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // Rebuild when HEAD moves: a checkout changes HEAD, a commit changes the
    // branch's ref (a loose file, or packed-refs once packed). Only existing
    // paths are watched: cargo reruns on every build for a missing one.
    // The ref's folder is watched only while the ref is packed: it also
    // changes on every other branch's commit.
    let git_path = |name: &str| git(root, &["rev-parse", "--git-path", name]).map(|p| root.join(p));
    let mut watched: Vec<PathBuf> = ["HEAD", "packed-refs"].into_iter().filter_map(git_path).collect();
    if let Some(reference) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        match git_path(&reference) {
            Some(loose) if loose.exists() => watched.push(loose),
            _ => watched.extend(reference.rsplit_once('/').and_then(|(folder, _)| git_path(folder))),
        }
    }
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(commit)
}

fn from_vcs_info(root: &Path) -> Option<String> {
    let path = root.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(&path).ok()?;
    println!("cargo:rerun-if-changed={}", path.display());
    // `"sha1": "<40 hex digits>"`; too small a format to need a JSON parser here.
    let rest = &text[text.find("\"sha1\"")? + 6..];
    let start = rest.find('"')? + 1;
    let commit = rest.get(start..start + 40)?;
    commit
        .bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| commit.to_string())
}

fn collect(root: &Path, rel: &str, files: &mut Vec<String>) {
    let entries = std::fs::read_dir(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    for entry in entries {
        let entry = entry.expect("readable folder");
        let name = entry.file_name().into_string().expect("UTF-8 file names");
        if name.starts_with('.') {
            continue;
        }
        let path = format!("{rel}/{name}");
        if entry.file_type().expect("file type").is_dir() {
            collect(root, &path, files);
        } else {
            files.push(path);
        }
    }
}
