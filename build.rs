//! Embeds the built-in archetypes and components, and the example catalog
//! `stamp init` scaffolds, so the binary alone can start a new platform repo.

use std::fmt::Write as _;
use std::path::Path;

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
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
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
