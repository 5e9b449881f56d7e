//! Turns the vendored CRDs (`schemas/crds/*.yaml`) into compact JSON, one
//! file per served version, holding only the `openAPIV3Schema` without its
//! descriptions, and a table `crds.rs` of `(apiVersion, kind, source, json)`.
//! The YAML is parsed here, at build time, so the binary only ever parses
//! a small JSON text, and only for a kind it meets.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Which release each file comes from, by file-name prefix; keep in step
/// with the table in `schemas/crds/README.md`.
const SOURCES: &[(&str, &str)] = &[
    ("argo-rollouts-", "Argo Rollouts v1.9.1"),
    ("argocd-", "Argo CD v3.5.1"),
    ("monitoring.coreos.com_", "prometheus-operator v0.93.0"),
];

fn main() {
    let dir = Path::new("schemas/crds");
    println!("cargo::rerun-if-changed={}", dir.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("schemas/crds is vendored")
        .map(|entry| entry.expect("readable schemas/crds").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut table = String::from("&[\n");
    for file in files {
        println!("cargo::rerun-if-changed={}", file.display());
        let text = std::fs::read_to_string(&file).expect("readable CRD");
        let crd: Value = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (_, project) = SOURCES
            .iter()
            .find(|(prefix, _)| file_name.starts_with(prefix))
            .unwrap_or_else(|| panic!("{file_name}: add its release to SOURCES"));
        let group = crd["spec"]["group"].as_str().expect("CRD spec.group");
        let plural = crd["spec"]["names"]["plural"].as_str().expect("CRD spec.names.plural");
        let kind = crd["spec"]["names"]["kind"].as_str().expect("CRD spec.names.kind");
        for version in crd["spec"]["versions"].as_array().expect("CRD spec.versions") {
            let name = version["name"].as_str().expect("CRD version name");
            let mut schema = version["schema"]["openAPIV3Schema"].clone();
            assert!(schema.is_object(), "{}: {name} has no openAPIV3Schema", file.display());
            strip(&mut schema);
            let json_name = format!("{kind}.{name}.json");
            std::fs::write(out.join(&json_name), schema.to_string()).expect("writable OUT_DIR");
            writeln!(
                table,
                "    ({:?}, {kind:?}, {:?}, include_str!(concat!(env!(\"OUT_DIR\"), \"/{json_name}\"))),",
                format!("{group}/{name}"),
                format!("the {project} CRD `{plural}.{group}`")
            )
            .unwrap();
        }
    }
    table.push(']');
    std::fs::write(out.join("crds.rs"), table).expect("writable OUT_DIR");
}

/// Drops what validation does not read (documentation, CEL rules) from a
/// schema node and its sub-schemas; a property *named* `description` stays.
fn strip(schema: &mut Value) {
    let Some(node) = schema.as_object_mut() else {
        return;
    };
    for key in ["description", "x-kubernetes-validations", "example"] {
        node.remove(key);
    }
    if let Some(Value::Object(properties)) = node.get_mut("properties") {
        properties.values_mut().for_each(strip);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = node.get_mut(key) {
            strip(child);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(children)) = node.get_mut(key) {
            children.iter_mut().for_each(strip);
        }
    }
}
