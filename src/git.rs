//! Every git command stamp runs: reading a revision's files from the object
//! store (for `diff --base` and `affected`) and the `origin` remote.

use std::collections::BTreeMap;
use std::path::Path;

/// Runs `git args` in `root`; its stdout, or why it failed.
pub(crate) fn run(root: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    // `rev-parse --verify --quiet` fails silently for an unknown revision.
    if !output.status.success() && !args.contains(&"--quiet") {
        return Err(format!(
            "git {} failed: {}",
            args[0],
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// One blob (or link, or submodule) of a git tree.
#[derive(Clone, Debug)]
pub(crate) struct TreeEntry {
    pub(crate) mode: String,
    pub(crate) oid: String,
    /// None for what is not a blob.
    pub(crate) size: Option<u64>,
    pub(crate) path: String,
}

/// `git ls-tree -r -l` of `commit`, limited to `pathspec` when not empty.
pub(crate) fn ls_tree(root: &Path, commit: &str, pathspec: &[&str]) -> Result<BTreeMap<String, TreeEntry>, String> {
    let mut args = vec!["ls-tree", "-r", "-l", "-z", commit, "--"];
    args.extend(pathspec);
    let listing = run(root, &args)?;
    // `<mode> <type> <oid> <size>\t<path>`, NUL-separated; paths from the root.
    let mut entries = BTreeMap::new();
    for record in listing.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let Some((meta, path)) = record.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split_whitespace();
        if let (Some(mode), Some(kind), Some(oid), Some(size)) = (meta.next(), meta.next(), meta.next(), meta.next()) {
            let size = if kind == "blob" { size.parse().ok() } else { None };
            entries.insert(
                path.to_string(),
                TreeEntry {
                    mode: mode.to_string(),
                    oid: oid.to_string(),
                    size,
                    path: path.to_string(),
                },
            );
        }
    }
    Ok(entries)
}

/// The contents of blobs (sizes already checked), in order.
pub(crate) fn cat_blobs<'a>(root: &Path, oids: impl Iterator<Item = &'a str>) -> Result<Vec<Vec<u8>>, String> {
    let oids: Vec<&str> = oids.collect();
    let request: String = oids.iter().map(|oid| format!("{oid}\n")).collect();
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = std::process::Command::new("git")
        .args(["cat-file", "--batch"])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("git cat-file has no input")?;
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        stdin.write_all(request.as_bytes())
    });
    let output = child
        .wait_with_output()
        .map_err(|e| format!("git cat-file failed: {e}"))?;
    writer
        .join()
        .map_err(|_| "git cat-file failed".to_string())?
        .map_err(|e| format!("git cat-file failed: {e}"))?;
    // `<oid> blob <size>\n<content>\n` per object, in request order.
    let mut blobs = Vec::new();
    let mut rest = output.stdout.as_slice();
    while !rest.is_empty() {
        let header_end = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("git cat-file ended early")?;
        let header = String::from_utf8_lossy(&rest[..header_end]).to_string();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("unexpected git cat-file output `{header}`"))?;
        let content = rest
            .get(header_end + 1..header_end + 1 + size)
            .ok_or("git cat-file ended early")?;
        blobs.push(content.to_vec());
        rest = rest.get(header_end + 2 + size..).unwrap_or_default();
    }
    if blobs.len() != oids.len() {
        return Err("git cat-file ended early".into());
    }
    Ok(blobs)
}

/// The commit `rev` names, or None when this clone does not have it.
pub(crate) fn commit_of(root: &Path, rev: &str) -> Result<Option<String>, String> {
    let commit = run(
        root,
        &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")],
    )?;
    let commit = String::from_utf8_lossy(&commit).trim().to_string();
    Ok((!commit.is_empty()).then_some(commit))
}

/// The `origin` remote, which `repo_url` defaults to.
pub(crate) fn origin_url(root: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["config", "--get", "remote.origin.url"])
        .current_dir(root)
        .output()
        .ok()?;
    let url = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !url.is_empty()).then_some(url)
}
