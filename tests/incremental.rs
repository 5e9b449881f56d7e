//! Fingerprints skip exactly the targets a change does not touch, and an
//! incremental build is always byte for byte a clean one.

use std::time::Duration;

use crate::test::Test;

fn rendered(stderr: &str) -> usize {
    let (_, rest) = stderr.split_once("services (").expect("a build summary");
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// Applies `edit`, builds incrementally, and compares with a clean build.
fn incremental_equals_clean(edit: impl Fn(&Test), expected_rendered: usize) {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    edit(&test);
    let out = test.expect(&["build"], 0);
    assert_eq!(rendered(&out.stderr), expected_rendered, "{}", out.stderr);
    let incremental = test.tree();
    std::fs::remove_dir_all(test.path().join("generated")).unwrap();
    test.expect(&["build", "--no-cache"], 0);
    assert_eq!(incremental, test.tree());
    test.expect(&["check", "--no-cache"], 0);
}

#[test]
fn nothing_changed_renders_nothing() {
    incremental_equals_clean(|_| {}, 0);
}

#[test]
fn service_edit_renders_only_its_targets() {
    incremental_equals_clean(|t| t.edit("catalog/services/web.yaml", "\"1.0.0\"", "\"1.0.1\""), 1);
    incremental_equals_clean(
        |t| t.edit("catalog/services/web.yaml", "ENABLED: true", "ENABLED: false"),
        3,
    );
}

#[test]
fn profile_edit_renders_its_services() {
    incremental_equals_clean(
        |t| t.edit("catalog/profiles.yaml", "components: [pdb]", "components: [pdb, hpa]"),
        2,
    );
}

#[test]
fn comment_only_edit_renders_nothing() {
    incremental_equals_clean(
        |t| t.edit("catalog/profiles.yaml", "profiles:", "# shared\nprofiles:"),
        0,
    );
}

#[test]
fn size_edit_renders_the_targets_using_it() {
    // `large` is web's prod size only.
    incremental_equals_clean(|t| t.edit("catalog/sizes.yaml", "max: 10", "max: 12"), 2);
}

#[test]
fn environment_edit_renders_its_region() {
    incremental_equals_clean(
        |t| {
            t.edit(
                "catalog/environments.yaml",
                "prod-us.example.com",
                "prod-us2.example.com",
            )
        },
        3,
    );
}

#[test]
fn team_edit_renders_the_team_services() {
    incremental_equals_clean(
        |t| t.edit("catalog/teams.yaml", "@example/team-b", "@example/b-team"),
        4,
    );
}

#[test]
fn stamp_yaml_edit_renders_no_target_but_updates_application_sets() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.edit(
        "stamp.yaml",
        "github.com/example/platform",
        "github.com/example/platform2",
    );
    test.edit("stamp.yaml", "\"@example/platform\"", "\"@example/platform2\"");
    let out = test.expect(&["build"], 0);
    assert_eq!(rendered(&out.stderr), 0);
    assert!(test.read("generated/argocd/prod.yaml").contains("example/platform2"));
    assert!(test.read(".github/CODEOWNERS").contains("@example/platform2"));
}

#[test]
fn archetype_template_edit_renders_its_targets() {
    incremental_equals_clean(
        |t| {
            t.edit(
                "archetypes/cronjob/cronjob.yaml.j2",
                "successfulJobsHistoryLimit: 3",
                "successfulJobsHistoryLimit: 5",
            )
        },
        2,
    );
}

#[test]
fn archetype_declaration_edit_renders_its_targets() {
    incremental_equals_clean(
        |t| t.edit("archetypes/worker/archetype.kdl", "default=60", "default=90"),
        2,
    );
}

#[test]
fn component_edit_renders_the_targets_using_it() {
    incremental_equals_clean(
        |t| {
            t.edit(
                "components/ingress/ingress.yaml.j2",
                "pathType: Prefix",
                "pathType: ImplementationSpecific",
            )
        },
        1,
    );
    incremental_equals_clean(|t| t.edit("components/pdb/component.kdl", "default=1", "default=2"), 5);
}

#[test]
fn hand_edited_or_deleted_output_is_restored() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.expect(&["build"], 0); // a no-op: now the stat cache vouches for every file
    let clean = test.tree();
    test.edit(
        "generated/web/dev/eu/manifests.yaml",
        "maxReplicas: 4",
        "maxReplicas: 40",
    );
    // Same size, new content: caught by the file's changed modification time.
    test.edit(
        "generated/web/prod/eu/manifests.yaml",
        "maxReplicas: 10",
        "maxReplicas: 11",
    );
    test.remove("generated/jobs/prod/us/stamp-target.json");
    test.remove("generated/report/prod/eu/.stamp-fingerprint");
    test.expect(&["check"], 1);
    let out = test.expect(&["build"], 0);
    assert_eq!(rendered(&out.stderr), 4, "{}", out.stderr);
    assert_eq!(test.tree(), clean);
}

#[test]
fn the_parse_cache_never_stands_in_for_an_edit() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    assert!(test.exists("generated/.stamp-tree-cache"));
    let web = test.read("catalog/services/web.yaml");
    test.write("catalog/services/web-2.yaml", &web.replace("name: web", "name: web-2"));
    test.edit("catalog/services/web.yaml", "\"1.0.0\"", "\"1.0.1\"");
    test.expect(&["build"], 0);
    let cached = test.tree();
    // A garbled cache is not read.
    std::fs::write(
        test.path().join("generated/.stamp-tree-cache"),
        b"stamp-tree-cache\x01\xff",
    )
    .unwrap();
    test.edit("catalog/services/web-2.yaml", "\"1.0.0\"", "\"1.0.2\"");
    let out = test.expect(&["build"], 0);
    assert!(rendered(&out.stderr) > 0, "{}", out.stderr);
    assert!(test.read("generated/web-2/dev/eu/manifests.yaml").contains("1.0.2"));
    assert!(cached.contains("1.0.1"));
    std::fs::remove_dir_all(test.path().join("generated")).unwrap();
    test.expect(&["build", "--no-cache"], 0);
    test.expect(&["check", "--no-cache"], 0);
    // Back to a text the cache holds: its tree is the one parsed then.
    test.edit("catalog/services/web-2.yaml", "\"1.0.2\"", "\"1.0.0\"");
    test.expect(&["build"], 0);
    test.expect(&["check", "--no-cache"], 0);
    assert!(test.read("generated/web-2/dev/eu/manifests.yaml").contains("1.0.0"));
}

#[test]
fn stale_fingerprint_format_is_never_trusted() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let path = "generated/web/dev/eu/.stamp-fingerprint";
    test.write(path, &test.read(path).replace("v1", "v0"));
    let out = test.expect(&["build"], 0);
    assert_eq!(rendered(&out.stderr), 1);
}

/// A repo with many services, so a build takes long enough to interrupt.
fn large() -> Test {
    let test = Test::fixture("basic");
    let web = test.read("catalog/services/web.yaml");
    for i in 0..150 {
        test.write(
            &format!("catalog/services/svc-{i:03}.yaml"),
            &web.replace("name: web", &format!("name: svc-{i:03}")),
        );
    }
    test
}

fn every_output_file_parses(test: &Test) {
    for line in test.tree().lines().filter_map(|l| l.strip_prefix("=== ")) {
        let text = test.read(line);
        if line.ends_with(".yaml") {
            for doc in serde_norway::Deserializer::from_str(&text) {
                let _: serde_json::Value =
                    serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("{line}: {e}"));
            }
        } else if line.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }
}

#[test]
fn killing_a_build_at_any_moment_leaves_every_file_whole() {
    let test = large();
    // STAMP_TEST_SEED replays a failed run; the seed is printed either way
    // (cargo test shows it with the failure).
    let seed: u32 = match std::env::var("STAMP_TEST_SEED") {
        Ok(seed) => seed.parse().expect("STAMP_TEST_SEED is a u32"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
    };
    println!("seed: {seed} (replay with STAMP_TEST_SEED={seed})");
    for round in 0..8u32 {
        // Each round edits every service, so the build has real writing to do.
        let tag = format!("\"1.0.{round}\"");
        for i in 0..150 {
            let path = format!("catalog/services/svc-{i:03}.yaml");
            let text = test.read(&path);
            let old = text
                .lines()
                .find(|l| l.trim_start().starts_with("tag:"))
                .unwrap()
                .to_string();
            test.write(&path, &text.replacen(&old, &format!("  tag: {tag}"), 1));
        }
        let mut child = std::process::Command::new(crate::test::binary())
            .arg("-C")
            .arg(test.path())
            .args(["build", "-q"])
            .spawn()
            .unwrap();
        let delay = (seed.wrapping_mul(2_654_435_761).wrapping_add(round * 7919)) % 400;
        std::thread::sleep(Duration::from_millis(u64::from(delay)));
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let _ = child.wait();
        every_output_file_parses(&test);
    }
    test.expect(&["build", "-q"], 0);
    test.expect(&["check", "--no-cache"], 0);
    let tree = test.tree();
    let leftovers: Vec<&str> = tree
        .lines()
        .filter(|l| l.starts_with("=== ") && l.contains("/.stamp-") && l.ends_with(".tmp"))
        .collect();
    assert_eq!(leftovers, Vec::<&str>::new(), "temporary files are cleaned up");
}

#[test]
fn two_builds_at_once_never_corrupt_the_output() {
    let test = large();
    let spawn = || {
        std::process::Command::new(crate::test::binary())
            .arg("-C")
            .arg(test.path())
            .args(["build"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let stderr = String::from_utf8_lossy(&a.stderr).to_string() + &String::from_utf8_lossy(&b.stderr);
    // One wrote everything; the other waited for the lock, then wrote
    // nothing. Whether it rendered first depends on timing: in a repo with
    // no `generated/` yet, the lock is taken only once a build knows it will
    // write, so both may render before either writes.
    let mut written: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("built 457 targets of 153 services ("))
        .filter_map(|l| l.split_once("): ").map(|(_, files)| files))
        .map(|l| l.rsplit_once(" in ").map_or(l, |(files, _)| files))
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "0 files written, 0 removed, 1375 unchanged",
            "1375 files written, 0 removed, 0 unchanged"
        ],
        "{stderr}"
    );
    every_output_file_parses(&test);
    test.expect(&["check", "--no-cache"], 0);
}
