//! A test that no module imports one that imports it back, so the pipeline
//! stays a one-way street: it reads every file under `src/`, takes each
//! file's module (`src/emit/yaml.rs` is `emit::yaml`) and the modules its
//! `crate::`, `super::` and child-module paths name, and looks for a cycle.
//! Unit tests (`#[cfg(test)]` onwards) may import anything and are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`emit::yaml`) → the modules its code names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src").with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// Every path a `crate::…` use tree names, `{a, b::{c}}` expanded.
fn use_paths(text: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut path = prefix.to_vec();
    loop {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > start {
            path.push(text[start..i].to_string());
        }
        if text[i..].starts_with("::{") {
            i += 3;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    return i + 1;
                }
                i += use_paths(&text[i..], &path, out);
            }
        }
        if text[i..].starts_with("::") && i > start {
            i += 2;
            continue;
        }
        out.push(path);
        return i.max(1);
    }
}

fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.expect("src is readable");
        if entry.path().extension().is_some_and(|e| e == "rs") {
            files.push(entry.into_path());
        }
    }
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let module = module_of(src, file);
        let text = std::fs::read_to_string(file).expect("a source file");
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let parent: Vec<String> = module.split("::").map(String::from).collect();
        let mut paths = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            use_paths(&code[at + "crate::".len()..], &[], &mut paths);
        }
        for (at, _) in code.match_indices("super::") {
            let base = &parent[..parent.len().saturating_sub(1)];
            use_paths(&code[at + "super::".len()..], base, &mut paths);
        }
        // Child modules named by a relative path (`reader::Spanned`).
        for child in modules.iter().filter_map(|m| m.strip_prefix(&format!("{module}::"))) {
            if !child.contains("::") && code.contains(&format!("{child}::")) {
                paths.push(parent.iter().cloned().chain([child.to_string()]).collect());
            }
        }
        let targets = graph.entry(module.clone()).or_default();
        for path in paths {
            // The longest prefix that is a module of ours is what is imported.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains(m));
            if let Some(target) = target.filter(|t| *t != module && !t.is_empty()) {
                targets.insert(target);
            }
        }
    }
    graph
}

/// A cycle through `start`, if any, as the modules on it.
fn cycle_from(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if next == start {
                return Some(path.iter().cloned().chain([start.to_string()]).collect());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), path.iter().cloned().chain([next.clone()]).collect()));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.len() > 20, "the walk found the modules: {graph:?}");
    assert!(graph["compile"].contains("write"), "the graph sees imports: {graph:?}");
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn use_trees_expand() {
    let mut paths = Vec::new();
    use_paths("emit::{self, yaml::to_yaml, argocd};", &[], &mut paths);
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(joined, ["emit::self", "emit::yaml::to_yaml", "emit::argocd"]);
}
