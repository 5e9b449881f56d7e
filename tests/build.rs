use crate::test::{Test, stamp};

#[test]
fn basic_fixture_output_tree() {
    let test = Test::fixture("basic");
    let out = test.expect(&["build"], 0);
    assert_eq!(
        out.summary(),
        "built 7 targets of 3 services (7 rendered, 42 objects): 25 files written, 0 removed, 0 unchanged"
    );
    insta::assert_snapshot!("basic_tree", test.tree());
}

#[test]
fn yaml_1_1_lookalikes_stay_strings() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let manifests = test.read("generated/web/dev/eu/manifests.yaml");
    assert!(manifests.contains("  FEATURE_FLAG: \"NO\"\n"), "{manifests}");
    assert!(manifests.contains("  ENABLED: \"true\"\n"), "{manifests}");
    assert!(manifests.contains("  VERSION: \"1.10\"\n"), "{manifests}");
}

#[test]
fn hpa_leaves_replicas_unset_and_worker_without_hpa_sets_them() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let web = test.read("generated/web/prod/eu/manifests.yaml");
    assert!(web.contains("kind: HorizontalPodAutoscaler"));
    assert!(!web.contains("replicas:"), "{web}");
    let jobs = test.read("generated/jobs/prod/us/manifests.yaml");
    assert!(!jobs.contains("HorizontalPodAutoscaler"));
    assert!(jobs.contains("\n  replicas: 3\n"), "{jobs}");
}

#[test]
fn build_with_one_thread_and_many_gives_the_same_bytes() {
    let one = Test::fixture("basic");
    one.expect(&["build", "-j", "1"], 0);
    let many = Test::fixture("basic");
    many.expect(&["build", "-j", "8"], 0);
    assert_eq!(one.tree(), many.tree());
}

#[test]
fn second_build_rewrites_nothing() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let before = test.mtimes("generated");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = test.expect(&["build"], 0);
    assert_eq!(
        out.summary(),
        "built 7 targets of 3 services (0 rendered, 0 objects): 0 files written, 0 removed, 25 unchanged"
    );
    assert_eq!(before, test.mtimes("generated"));
}

#[test]
fn removed_service_loses_its_output_but_foreign_files_stay() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    test.write("generated/README.md", "hand-written\n");
    test.write("generated/jobs/prod/us/notes.txt", "hand-written\n");
    test.write("generated/legacy/prod/eu/manifests.yaml", "# not stamp's\n");
    test.remove("catalog/services/jobs.yaml");
    let out = test.expect(&["build"], 0);
    assert_eq!(
        out.summary(),
        "built 5 targets of 2 services (0 rendered, 0 objects): 1 files written, 6 removed, 18 unchanged"
    );
    assert!(!test.exists("generated/jobs/dev"));
    assert!(!test.exists("generated/jobs/prod/us/manifests.yaml"));
    assert!(test.exists("generated/jobs/prod/us/notes.txt"));
    assert!(test.exists("generated/README.md"));
    assert!(test.exists("generated/legacy/prod/eu/manifests.yaml"));
    assert!(!test.read(".github/CODEOWNERS").contains("jobs"));
}

#[test]
fn one_broken_service_keeps_its_last_output_and_others_build() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let jobs_before = test.read("generated/jobs/dev/eu/manifests.yaml");
    let codeowners_before = test.read(".github/CODEOWNERS");
    // `jobs` breaks; `web` changes and must still be written.
    test.write("catalog/services/jobs.yaml", "name: jobs\nprofle: worker\n");
    let web = test.read("catalog/services/web.yaml").replace("1.0.0", "1.0.1");
    test.write("catalog/services/web.yaml", &web);
    let out = test.expect(&["build"], 2);
    assert_eq!(
        out.messages(),
        "error: catalog/services/jobs.yaml:1:1: the service is missing the required key `environments`\nerror: catalog/services/jobs.yaml:1:1: the service is missing the required key `owners`\nerror: catalog/services/jobs.yaml:1:1: the service is missing the required key `size`\nerror: catalog/services/jobs.yaml:2:1: unknown key `profle` in a service\nhint: did you mean `profile`?\n"
    );
    assert_eq!(test.read("generated/jobs/dev/eu/manifests.yaml"), jobs_before);
    assert!(
        test.read("generated/web/dev/eu/manifests.yaml")
            .contains("ghcr.io/example/web:1.0.1")
    );
    assert_eq!(test.read(".github/CODEOWNERS"), codeowners_before);
}

#[test]
fn failing_target_keeps_its_last_good_output() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let jobs_before = test.read("generated/jobs/prod/us/manifests.yaml");
    let test = test.overlay("errors/unknown-field");
    test.write(
        "catalog/services/web.yaml",
        &test.read("catalog/services/web.yaml").replace("1.0.0", "1.0.1"),
    );
    test.expect(&["build"], 2);
    assert_eq!(test.read("generated/jobs/prod/us/manifests.yaml"), jobs_before);
    assert!(test.read("generated/web/dev/eu/manifests.yaml").contains("web:1.0.1"));
}

#[test]
fn root_is_found_from_a_subfolder() {
    let test = Test::fixture("basic");
    stamp()
        .args(["build", "-q"])
        .current_dir(test.path().join("catalog/services"))
        .assert()
        .success();
    assert!(test.exists("generated/web/dev/eu/manifests.yaml"));
}

/// `build` and `check` enter the root (shorter paths to stat); a relative
/// `-C` still names the folder from where stamp was started.
#[test]
fn a_relative_root_is_taken_from_the_starting_folder() {
    let test = Test::fixture("basic");
    let parent = test.path().parent().unwrap();
    let name = test.path().file_name().unwrap().to_str().unwrap();
    for args in [["-C", name, "build", "-q"], ["-C", name, "check", "-q"]] {
        stamp().args(args).current_dir(parent).assert().success();
    }
    assert!(test.exists("generated/web/dev/eu/manifests.yaml"));
    let assert = stamp()
        .args(["-C", &format!("{name}/catalog/.."), "check"])
        .current_dir(parent)
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&assert.get_output().stderr).contains("up to date: 7 targets"));
}

/// In a repo never built, a broken shared input creates nothing at all:
/// not even `generated/` for the write lock.
#[test]
fn a_broken_shared_input_in_a_new_repo_creates_no_generated_folder() {
    let test = Test::fixture("basic");
    std::fs::remove_dir_all(test.path().join("archetypes")).unwrap();
    let out = test.expect(&["build"], 2);
    assert!(out.stderr.contains("nothing was written or removed"), "{}", out.stderr);
    assert!(!test.exists("generated"), "{}", test.tree());
    assert!(!test.exists(".github"));
    // Fixed, the first build takes the lock and writes as always.
    std::fs::create_dir(test.path().join("archetypes")).unwrap();
    crate::test::copy_tree(
        &crate::test::repo_root().join("archetypes"),
        &test.path().join("archetypes"),
    );
    test.expect(&["build"], 0);
    assert!(test.exists("generated/web/dev/eu/manifests.yaml"));
}
