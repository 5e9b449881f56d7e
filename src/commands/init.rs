//! `stamp init [DIR]`: a new platform repo from what the binary embeds.

use std::path::Path;

use crate::cli::Settings;
use crate::commands::{ERRORS, OK};
use crate::{report, write};

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

const GITIGNORE: &str = "# stamp's local files: write lock, stat cache, write marker, temporary files.
generated/.stamp.lock
generated/.stamp-cache
generated/.stamp-writing
.stamp-*.tmp
";

/// Every file `init` writes, in order.
pub fn scaffold() -> Vec<(&'static str, &'static str)> {
    let mut files = vec![
        ("stamp.yaml", STAMP_YAML),
        ("Makefile", MAKEFILE),
        (".gitignore", GITIGNORE),
    ];
    files.extend(EXAMPLE_CATALOG.iter().copied());
    files.extend(BUILTINS.iter().copied());
    files
}

pub fn run(settings: &Settings, dir: &Path) -> i32 {
    let files = scaffold();
    let existing: Vec<&str> = files.iter().map(|(p, _)| *p).filter(|p| dir.join(p).exists()).collect();
    if !existing.is_empty() {
        let mut named: Vec<String> = existing.iter().take(3).map(|p| format!("`{p}`")).collect();
        if existing.len() > 3 {
            named.push(format!("{} more", existing.len() - 3));
        }
        eprintln!(
            "error: `{}` already holds {}; init never overwrites a file\nhint: run it in an empty folder",
            dir.display(),
            named.join(", ")
        );
        return ERRORS;
    }
    for (path, content) in &files {
        if let Err(e) = write::write_atomic(&dir.join(path), content.as_bytes()) {
            eprintln!("error: cannot write `{}`: {e}", dir.join(path).display());
            return ERRORS;
        }
    }
    report::status(
        settings,
        &format!(
            "created a platform repo in `{}`: {} files ({} example services)\nnext: cd {} && stamp build",
            dir.display(),
            files.len(),
            EXAMPLE_CATALOG
                .iter()
                .filter(|(p, _)| p.starts_with("catalog/services/"))
                .count(),
            dir.display()
        ),
    );
    OK
}
