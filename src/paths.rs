//! Where things live in a platform repo: the input files stamp reads and the
//! output files it owns, and a target's identity as a folder. Every stage
//! imports this module and it imports none, so a path is spelled once.

/// The repo's settings file.
pub(crate) const STAMP_FILE: &str = "stamp.yaml";
/// One file per service, `<name>.yaml`, directly in this folder.
pub(crate) const SERVICES_DIR: &str = "catalog/services/";
/// The folders (besides `STAMP_FILE`) whose files are inputs.
pub(crate) const INPUT_DIRS: &[&str] = &["catalog", "archetypes", "components", "policies"];

/// Everything stamp writes, except CODEOWNERS, lives under this folder.
pub(crate) const GENERATED_DIR: &str = "generated";
/// A target's objects as one multi-document YAML stream.
pub(crate) const MANIFESTS_FILE: &str = "manifests.yaml";
/// The per-target parameter file the ApplicationSet's git files generator reads.
pub(crate) const TARGET_FILE: &str = "stamp-target.json";
/// A target's inputs hash and the hashes of its two other files.
pub(crate) const FINGERPRINT_FILE: &str = ".stamp-fingerprint";
/// The files of one target folder, in the order the stat cache records them.
pub(crate) const TARGET_FILES: [&str; 3] = [MANIFESTS_FILE, TARGET_FILE, FINGERPRINT_FILE];

/// The local, uncommitted stat cache.
pub(crate) const STAT_CACHE_FILE: &str = "generated/.stamp-cache";
/// The local, uncommitted memo of parsed service files (`tree_cache.rs`).
pub(crate) const TREE_CACHE_FILE: &str = "generated/.stamp-tree-cache";
/// The local, uncommitted record of the last clean run's stats: the no-op fast path.
pub(crate) const SNAPSHOT_FILE: &str = "generated/.stamp-snapshot";
/// Held while a process writes, so two never interleave.
pub(crate) const LOCK_FILE: &str = "generated/.stamp.lock";
/// Present while a build writes: temporary files may be left behind.
pub(crate) const WRITING_MARKER: &str = "generated/.stamp-writing";

/// Repo path `rel` under `root`; `rel` itself when the root is `.` (see
/// `Settings::enter_root`): no `./` for the kernel to walk, no allocation.
pub(crate) fn under<'a>(root: &std::path::Path, rel: &'a str) -> std::borrow::Cow<'a, std::path::Path> {
    if root == std::path::Path::new(".") {
        std::borrow::Cow::Borrowed(std::path::Path::new(rel))
    } else {
        std::borrow::Cow::Owned(root.join(rel))
    }
}

/// A target's folder: `generated/<service>/<env>/<region>`.
pub(crate) fn target_dir(service: &str, env: &str, region: &str) -> String {
    format!("{GENERATED_DIR}/{service}/{env}/{region}")
}

/// True for a target folder, `generated/<service>/<env>/<region>`.
pub(crate) fn is_target_dir(dir: &str) -> bool {
    dir.starts_with(GENERATED_DIR) && dir.bytes().filter(|&b| b == b'/').count() == 3
}

/// The prefix of every file of one service's output, `generated/<service>/`.
pub(crate) fn service_prefix(service: &str) -> String {
    format!("{GENERATED_DIR}/{service}/")
}

/// The three files of the target folder `dir`.
pub(crate) fn target_files(dir: &str) -> [String; 3] {
    TARGET_FILES.map(|file| format!("{dir}/{file}"))
}

/// Whether `path` is one service's own file, whose errors fail that service
/// only; any other input is shared by every service.
pub(crate) fn is_service_file(path: &str) -> bool {
    path.strip_prefix(SERVICES_DIR)
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// The service a service file names: `catalog/services/<name>.yaml` → `<name>`.
pub(crate) fn service_of_file(path: &str) -> Option<&str> {
    path.strip_prefix(SERVICES_DIR)?
        .strip_suffix(".yaml")
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_files_are_direct_children_of_the_services_folder() {
        assert!(is_service_file("catalog/services/api.yaml"));
        assert!(is_service_file("catalog/services/notes.txt"));
        assert!(!is_service_file("catalog/services/"));
        assert!(!is_service_file("catalog/services/a/b.yaml"));
        assert!(!is_service_file("catalog/sizes.yaml"));
        assert_eq!(service_of_file("catalog/services/api.yaml"), Some("api"));
        assert_eq!(service_of_file("catalog/services/api.yml"), None);
    }

    #[test]
    fn a_target_folder_holds_three_files() {
        assert_eq!(target_dir("api", "prod", "eu"), "generated/api/prod/eu");
        assert_eq!(target_files("d")[2], "d/.stamp-fingerprint");
        assert_eq!(service_prefix("api"), "generated/api/");
    }
}
