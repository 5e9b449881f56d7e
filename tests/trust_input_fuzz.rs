//! Property tests of the catalog loader and YAML reader: whatever bytes a
//! service or shared file holds, stamp returns (no panic, no hang) with a
//! tree inside the reader's bounds or with diagnostics.
//!
//! CI runs proptest's default of 256 cases per property; set
//! `PROPTEST_CASES=200000` for a long run. Inputs that once failed live in
//! `tests/fixtures/fuzz/` and are replayed by `fuzz_fixtures_replay`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use stamp::load::Sources;
use stamp::yaml_tree::{self, MAX_DEPTH, MAX_NODES, Node, NodeKind};

use crate::test::Test;

/// The `basic` fixture's inputs, read once.
fn basic() -> &'static Sources {
    static SOURCES: OnceLock<Sources> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let test = Test::fixture("basic");
        Sources::from_dir(test.path()).unwrap()
    })
}

/// Nodes and nesting depth of a tree, without recursion.
fn measure(root: &Node) -> (usize, usize) {
    let mut nodes = 0;
    let mut deepest = 0;
    let mut stack = vec![(root, 0)];
    while let Some((node, depth)) = stack.pop() {
        nodes += 1;
        deepest = deepest.max(depth);
        match &node.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => stack.extend(items.iter().map(|n| (n, depth + 1))),
            NodeKind::Map(entries) => {
                for (k, v) in entries {
                    stack.push((k, depth + 1));
                    stack.push((v, depth + 1));
                }
            }
        }
    }
    (nodes, deepest)
}

/// The reader returns a tree inside its bounds, or an error at a real line.
fn check_reader(text: &str) {
    let start = Instant::now();
    match yaml_tree::parse_stream("f.yaml", text) {
        Ok(documents) => {
            let nodes: usize = documents.iter().map(|d| measure(d).0).sum();
            assert!(nodes <= MAX_NODES, "{nodes} nodes");
            for d in &documents {
                assert!(measure(d).1 <= MAX_DEPTH, "too deep");
            }
        }
        Err(d) => {
            // Line breaks as YAML counts them.
            let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count() as u32;
            assert!(
                d.pos.line >= 1 && d.pos.line <= lines.max(1),
                "line {} of {lines}: {d:?}",
                d.pos.line
            );
            assert!(!d.message.is_empty());
        }
    }
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
}

/// The whole catalog with `text` in place of `path` reads without panicking;
/// a file that is not a valid service yields at least one diagnostic there.
fn check_catalog(path: &str, text: &str) {
    let mut sources = basic().clone();
    sources.insert(path, text);
    let start = Instant::now();
    let (_catalog, diags) = stamp::catalog::parse(&sources);
    for d in &diags {
        assert!(d.pos.line >= 1 && d.pos.col >= 1, "{d:?}");
    }
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
}

/// Pieces of YAML syntax, thrown together in any order.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "name",
        "web",
        "profile",
        "env",
        ":",
        ": ",
        " ",
        "  ",
        "\n",
        "\n  ",
        "- ",
        "-",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "&b ",
        "*b",
        "'",
        "\"",
        "\t",
        "# c",
        "---\n",
        "...\n",
        "|\n",
        ">-\n",
        "? ",
        "!tag ",
        "!!str ",
        "%YAML 1.2\n",
        "\\",
        "é",
        "\u{feff}",
        "\r\n",
        "~",
        "null",
        "1.10",
        "0x1F",
        "<<: *a",
        "=",
        "`",
        "@",
        "%",
        "{{ x }}",
        "\0",
    ]);
    prop::collection::vec(tokens, 0..120).prop_map(|t| t.concat())
}

/// Collections nested `depth` deep in one of YAML's styles.
fn deep_nesting() -> impl Strategy<Value = String> {
    (0usize..400, 0usize..4).prop_map(|(depth, style)| match style {
        0 => format!("a: {}1{}", "[".repeat(depth), "]".repeat(depth)),
        1 => format!("a: {}", "{k: ".repeat(depth)),
        2 => (0..depth).map(|i| format!("{}- \n", " ".repeat(i))).collect(),
        _ => (0..depth).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect(),
    })
}

/// Chains of anchors, each level aliasing the one below `fanout` times.
fn alias_chains() -> impl Strategy<Value = String> {
    (1usize..14, 1usize..14, prop::bool::ANY).prop_map(|(levels, fanout, flow)| {
        let mut text = format!("a0: &a0 [{}]\n", vec!["x"; fanout].join(", "));
        for i in 1..levels {
            let aliases = vec![format!("*a{}", i - 1); fanout];
            if flow {
                text += &format!("a{i}: &a{i} [{}]\n", aliases.join(", "));
            } else {
                text += &format!(
                    "a{i}: &a{i}\n{}",
                    aliases.iter().map(|a| format!("  - {a}\n")).collect::<String>()
                );
            }
        }
        text
    })
}

/// A valid service file with one value replaced by `value`.
fn service_with(value: &str) -> String {
    let web = basic().get("catalog/services/web.yaml").unwrap();
    web.replacen("small", value, 1)
}

/// Cases for the slow properties (each may build a million nodes): fewer
/// by default, `PROPTEST_CASES` when set.
fn slow_cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(slow_cases())]

    #[test]
    fn aliases_are_bounded(text in alias_chains()) {
        let text = format!("name: web\n{text}");
        check_reader(&text);
        check_catalog("catalog/services/web.yaml", &text);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes);
        check_reader(&text);
        check_catalog("catalog/services/web.yaml", &text);
    }

    #[test]
    fn yaml_token_soup(text in token_soup()) {
        check_reader(&text);
        check_catalog("catalog/services/web.yaml", &text);
        check_catalog("catalog/sizes.yaml", &text);
        check_catalog("catalog/environments.yaml", &text);
    }

    #[test]
    fn token_soup_inside_a_service(soup in token_soup()) {
        let text = service_with(&soup);
        check_reader(&text);
        check_catalog("catalog/services/web.yaml", &text);
    }

    #[test]
    fn deep_nesting_is_bounded(text in deep_nesting()) {
        check_reader(&text);
        check_catalog("catalog/services/web.yaml", &text);
    }
}

/// Files on disk: whatever their bytes, each is an input or a problem.
#[test]
fn arbitrary_files_are_read_or_refused() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 32,
        ..ProptestConfig::default()
    });
    let test = Test::empty();
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            test.write("catalog/services/x.yaml", "");
            std::fs::write(test.path().join("catalog/services/x.yaml"), &bytes).unwrap();
            let sources = Sources::from_dir(test.path()).unwrap();
            let read = sources.get("catalog/services/x.yaml").is_some();
            let refused = sources.problems().iter().any(|d| d.file == "catalog/services/x.yaml");
            prop_assert!(read != refused);
            prop_assert_eq!(read, std::str::from_utf8(&bytes).is_ok());
            Ok(())
        })
        .unwrap();
}

/// Inputs that once crashed, hung or were misreported.
#[test]
fn fuzz_fixtures_replay() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        check_reader(&text);
        check_catalog("catalog/services/web.yaml", &text);
        // Each of them is broken: it must say so.
        let mut sources = basic().clone();
        sources.insert("catalog/services/web.yaml", &text);
        let (_, diags) = stamp::catalog::parse(&sources);
        assert!(
            diags.iter().any(|d| d.file == "catalog/services/web.yaml"),
            "{}: no error",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 3, "the fixtures are gone");
}
