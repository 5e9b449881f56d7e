//! `init`, `new` and `explain`.

use std::path::Path;

use crate::test::{Test, copy_tree, stamp};

fn files_under(root: &Path, rel: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join(rel)).unwrap() {
        let entry = entry.unwrap();
        let path = format!("{rel}/{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_under(root, &path));
        } else {
            out.push((path.clone(), std::fs::read_to_string(root.join(&path)).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn init_writes_the_embedded_builtins_and_builds_at_once() {
    let test = Test::empty();
    let repo = test.path().join("platform");
    stamp().arg("init").arg(&repo).assert().success();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["archetypes", "components"] {
        assert_eq!(
            files_under(&repo, dir),
            files_under(source, dir),
            "embedded {dir}/ differs from the repo's"
        );
    }
    for file in [
        "stamp.yaml",
        "Makefile",
        ".gitignore",
        "catalog/profiles.yaml",
        "catalog/teams.yaml",
    ] {
        assert!(repo.join(file).is_file(), "{file}");
    }
    stamp().arg("-C").arg(&repo).arg("build").assert().success();
    assert!(
        repo.join("generated/account-service/prod/euw1/manifests.yaml")
            .is_file()
    );
    stamp().arg("-C").arg(&repo).arg("check").assert().success();
}

#[test]
fn init_never_overwrites() {
    let test = Test::fixture("basic");
    let before = test.read("catalog/profiles.yaml");
    let out = test.expect(&["init", test.path().to_str().unwrap()], 2);
    let repo = test.path().to_str().unwrap();
    assert_eq!(
        out.messages().replace(repo, "<repo>"),
        "error: `<repo>` already holds `stamp.yaml`, `catalog/profiles.yaml`, `catalog/sizes.yaml`, 30 more; init never overwrites a file\nhint: run it in an empty folder\n"
    );
    assert_eq!(test.read("catalog/profiles.yaml"), before);
}

#[test]
fn new_writes_a_service_that_builds() {
    let test = Test::fixture("basic");
    let out = test.expect(
        &[
            "new",
            "billing",
            "--profile",
            "public-api",
            "--size",
            "small",
            "--team",
            "team-a",
            "--env",
            "prod",
        ],
        0,
    );
    insta::assert_snapshot!("new_service", test.read("catalog/services/billing.yaml"));
    assert_eq!(out.stdout, test.read("catalog/services/billing.yaml"));
    test.expect(&["build"], 0);
    assert!(test.exists("generated/billing/prod/us/manifests.yaml"));
    assert!(
        test.read("generated/billing/prod/us/manifests.yaml")
            .contains("image: ghcr.io/example/billing:0.1.0")
    );
}

#[test]
fn new_cronjob_service_gets_a_schedule() {
    let test = Test::fixture("basic");
    test.expect(
        &[
            "new",
            "cleanup",
            "--profile",
            "batch",
            "--size",
            "small",
            "--team",
            "team-b",
            "--schedule",
            "@daily",
        ],
        0,
    );
    insta::assert_snapshot!("new_cronjob_service", test.read("catalog/services/cleanup.yaml"));
    test.expect(&["build"], 0);
}

#[test]
fn new_checks_its_arguments_like_the_catalog() {
    let test = Test::fixture("basic");
    let out = test.expect(
        &[
            "new",
            "billing",
            "--profile",
            "publc-api",
            "--size",
            "smal",
            "--team",
            "team-a",
        ],
        2,
    );
    insta::assert_snapshot!("new_bad_arguments", out.stderr);
    assert!(!test.exists("catalog/services/billing.yaml"));
    let out = test.expect(
        &[
            "new",
            "web",
            "--profile",
            "public-api",
            "--size",
            "small",
            "--team",
            "team-a",
        ],
        2,
    );
    assert_eq!(
        out.messages(),
        "error: `catalog/services/web.yaml` already exists; `stamp new` never overwrites a service\n"
    );
    let out = test.expect(
        &[
            "new",
            "Bad_Name",
            "--profile",
            "public-api",
            "--size",
            "small",
            "--team",
            "team-a",
        ],
        2,
    );
    assert_eq!(
        out.messages(),
        "error: service name `Bad_Name` is not a DNS-1123 label: use only lowercase letters, digits and `-`\n"
    );
}

#[test]
fn explain_names_where_each_value_came_from() {
    let test = Test::fixture("basic");
    let out = test.expect(&["explain", "web", "--env", "prod", "--region", "us"], 0);
    insta::assert_snapshot!("explain_web_prod_us", out.stdout);
    let json = test.expect(&["explain", "web", "--env", "prod", "--format", "json"], 0);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 2, "both prod regions");
    let size = parsed[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "size")
        .unwrap();
    assert_eq!(size["value"], "large");
    assert_eq!(size["origin"]["file"], "catalog/services/web.yaml");
    assert_eq!(size["origin"]["level"], "overrides.prod");
    let out = test.expect(&["explain", "wbe"], 2);
    assert_eq!(
        out.messages(),
        "error: service `wbe` is not in `catalog/services/`\nhint: did you mean `web`?\n"
    );
}

#[test]
fn copy_tree_helper_copies_nested_folders() {
    let test = Test::empty();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/basic"),
        test.path(),
    );
    assert!(test.exists("catalog/services/web.yaml"));
}
