//! Versions, promotion and rollback (SPEC §4): digests, the version label,
//! `stamp versions`, and `promote`/`rollback` editing a service file in
//! place on real git histories with fixed dates.

use std::process::Command;

use serde_json::Value;

use crate::test::Test;

const API: &str = "catalog/services/api.yaml";
const JOBS: &str = "catalog/services/jobs.yaml";
const AAA: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Commits everything with fixed author and dates, so history is the same every run.
fn commit_at(test: &Test, message: &str, date: &str) {
    if !test.path().join(".git").exists() {
        test.git(&["init", "-q"]);
    }
    test.git(&["add", "-A"]);
    // `Test::git` cannot set the dates, which only the environment carries.
    let out = Command::new("git")
        .args(["-c", "user.name=Ana", "-c", "user.email=ana@example.com"])
        .args(["commit", "-q", "--allow-empty", "-m", message])
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .current_dir(test.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The versions fixture, committed once on 2026-01-01.
fn repo() -> Test {
    let test = Test::fixture("versions");
    commit_at(&test, "start", "2026-01-01T10:00:00Z");
    test
}

/// The versions fixture with api promoted to prod and committed on 2026-01-03.
fn promoted() -> Test {
    let test = repo();
    test.expect(&["promote", "api", "--to", "prod"], 0);
    commit_at(&test, "promote api", "2026-01-03T10:00:00Z");
    test
}

/// `text` with every commit id of the repo replaced by `<commit N>`
/// (ids depend on the built-in archetypes the fixture copies).
fn redact(test: &Test, text: &str) -> String {
    let mut text = text.to_string();
    let ids = test.git(&["log", "--format=%H"]);
    for (n, id) in ids.lines().rev().enumerate() {
        text = text.replace(id, &format!("<commit {}>", n + 1));
        text = text.replace(&id[..12], &format!("<commit {}>", n + 1));
    }
    text
}

/// Runs `args`, expects exit 2 and every service file byte for byte as before.
fn refused(test: &Test, args: &[&str]) -> String {
    let before = (test.read(API), test.read(JOBS));
    let out = test.expect(args, 2);
    assert_eq!(
        (test.read(API), test.read(JOBS)),
        before,
        "a refused command changed a file"
    );
    assert_eq!(out.stdout, "");
    redact(test, &out.stderr)
}

#[test]
fn promote_edits_only_the_image_lines() {
    let test = repo();
    let out = test.expect(&["promote", "api", "--to", "prod"], 0);
    insta::assert_snapshot!(out.stdout, @"catalog/services/api.yaml: `prod` 1.8@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb -> 1.9@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (from `stage`)");
    insta::assert_snapshot!(test.read(API), @r#"
# The api: dev -> stage -> prod.
name: api
profile: worker
size: small

environments: [ dev, stage, prod ]   # promotion order comes from environments.yaml
image:
    repository: ghcr.io/example/api
    tag: "1.10"          # quoted: 1.10 is not 1.1
overrides:
    stage:
        image: {tag: "1.9", digest: sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}   # flow, kept
        replicas: 1

    prod:
        # prod lags
        image:
            tag: '1.9'
            digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
owners: { team: team-a }
"#);
    assert!(test.exists("generated/api/prod/eu/manifests.yaml"), "promote builds");
}

#[test]
fn promote_removes_a_pin_the_service_already_says() {
    let test = repo();
    let out = test.expect(&["promote", "api", "--to", "stage"], 0);
    insta::assert_snapshot!(out.stdout, @"catalog/services/api.yaml: `stage` 1.9@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa -> 1.10 (from `dev`) (the service's own image: its pin is removed)");
    insta::assert_snapshot!(test.read(API), @r#"
# The api: dev -> stage -> prod.
name: api
profile: worker
size: small

environments: [ dev, stage, prod ]   # promotion order comes from environments.yaml
image:
    repository: ghcr.io/example/api
    tag: "1.10"          # quoted: 1.10 is not 1.1
overrides:
    stage:
        replicas: 1

    prod:
        # prod lags
        image:
            tag: '1.8'
            digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
owners: { team: team-a }
"#);
}

#[test]
fn rollback_to_a_revision_adds_an_override() {
    let test = repo();
    test.edit(JOBS, "tag: v2.1.0", "tag: v2.2.0");
    commit_at(&test, "jobs 2.2.0", "2026-01-02T10:00:00Z");
    let out = test.expect(&["rollback", "jobs", "--env", "prod", "--to", "HEAD~1"], 0);
    insta::assert_snapshot!(out.stdout, @"catalog/services/jobs.yaml: `prod` v2.2.0 -> v2.1.0 (as at `HEAD~1`)");
    insta::assert_snapshot!(test.read(JOBS), @r#"
name: jobs
profile: worker
size: small
environments: [dev, prod]
image:
  repository: ghcr.io/example/jobs
  tag: v2.2.0
owners:
  team: team-b
overrides:
  prod:
    image: { tag: v2.1.0 }
"#);
}

#[test]
fn rollback_goes_back_to_the_version_before() {
    let original = repo().read(API);
    let test = promoted();
    let out = test.expect(&["rollback", "api", "--env", "prod"], 0);
    insta::assert_snapshot!(redact(&test, &out.stdout), @"catalog/services/api.yaml: `prod` 1.9@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa -> 1.8@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb (the version before, set in <commit 1> at 2026-01-01T10:00:00Z)");
    assert_eq!(test.read(API), original, "rollback restores the file byte for byte");
}

#[test]
fn a_rolled_back_version_is_not_promoted_again_without_force() {
    let test = promoted();
    test.expect(&["rollback", "api", "--env", "prod"], 0);
    commit_at(&test, "roll back api", "2026-01-04T10:00:00Z");
    let stderr = refused(&test, &["promote", "api", "--to", "prod"]);
    insta::assert_snapshot!(stderr, @r#"
error: 1.9@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa was rolled back in `prod` in commit <commit 3> by Ana at 2026-01-04T10:00:00Z
hint: promote it anyway with `--force` once the reason is fixed
"#);
    test.expect(&["promote", "api", "--to", "prod", "--force"], 0);
    assert_eq!(test.read(API).matches(AAA).count(), 2);
}

#[test]
fn soak_is_respected_unless_forced() {
    let test = repo();
    // An uncommitted change counts as now.
    test.edit(API, "image: {tag: \"1.9\"", "image: {tag: \"1.11\"");
    let uncommitted = refused(&test, &["promote", "api", "--to", "prod"]);
    // A version committed in the future has soaked for less than nothing.
    commit_at(&test, "stage 1.11", "2099-01-01T00:00:00Z");
    let young = refused(&test, &["promote", "api", "--to", "prod"]);
    insta::assert_snapshot!(format!("{uncommitted}{young}"), @r#"
error: 1.11@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa is an uncommitted change in `stage`, which has a soak of 24h
hint: commit it and let it soak, or promote anyway with `--force`
error: 1.11@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa has run in `stage` since 2099-01-01T00:00:00Z, less than its soak of 24h
hint: wait, or promote anyway with `--force`
"#);
    test.expect(&["promote", "api", "--to", "prod", "--force"], 0);
    assert!(test.read(API).contains("tag: '1.11'"));
}

#[test]
fn aliases_and_anchors_are_refused_with_their_line() {
    let test = Test::fixture("versions");
    test.write(
        API,
        "name: api\nprofile: worker\nsize: small\nenvironments: [dev, stage, prod]\nimage:\n  repository: ghcr.io/example/api\n  tag: \"1.10\"\noverrides:\n  prod:\n    image: &pinned { tag: \"1.8\" }\n  stage:\n    image: *pinned\nowners: { team: team-a }\n",
    );
    commit_at(&test, "start", "2026-01-01T10:00:00Z");
    let anchor = refused(&test, &["promote", "api", "--to", "prod", "--from", "dev", "--force"]);
    let alias = refused(&test, &["promote", "api", "--to", "stage", "--from", "dev", "--force"]);
    insta::assert_snapshot!(format!("{anchor}{alias}"), @r#"
error: catalog/services/api.yaml:10: `overrides.prod.image` carries an anchor (`&name`) other nodes may copy; edit it by hand
hint: the file is unchanged
error: catalog/services/api.yaml:12: `overrides.stage.image` is an alias (`*name`); edit the anchor it copies by hand
hint: the file is unchanged
"#);
}

#[test]
fn a_shallow_clone_says_to_fetch_more_history() {
    let origin = promoted();
    let clone = Test::empty();
    let url = format!("file://{}", origin.path().display());
    clone.git(&["clone", "-q", "--depth", "1", &url, "."]);
    let promote = refused(&clone, &["promote", "api", "--to", "prod", "--from", "dev"]);
    let rollback = refused(&clone, &["rollback", "api", "--env", "prod"]);
    let versions = clone.expect(&["versions", "--format", "json"], 2);
    insta::assert_snapshot!(format!("{promote}{rollback}{}", versions.stderr), @r#"
error: cannot tell whether 1.10 was rolled back: this is a shallow clone and the history it needs is missing; fetch more history (`git fetch --unshallow`, or `fetch-depth: 0` in CI)
error: cannot find the version `prod` ran before: this is a shallow clone and the history it needs is missing; fetch more history (`git fetch --unshallow`, or `fetch-depth: 0` in CI)
error: `catalog/services/api.yaml` in `dev`: this is a shallow clone and the history it needs is missing; fetch more history (`git fetch --unshallow`, or `fetch-depth: 0` in CI)
"#);
}

#[test]
fn unknown_names_and_revisions_change_nothing() {
    let test = repo();
    let mut all = String::new();
    for args in [
        &["promote", "apo", "--to", "prod"][..],
        &["promote", "api", "--to", "prd"],
        &["promote", "jobs", "--to", "stage"],
        &["promote", "api", "--to", "prod", "--from", "qa"],
        &["promote", "api", "--to", "dev"],
        &["rollback", "api", "--env", "prod", "--to", "no-such-rev"],
        &["rollback", "jobs", "--env", "prod"],
    ] {
        all.push_str(&refused(&test, args));
    }
    insta::assert_snapshot!(all, @r#"
error: service `apo` is not in `catalog/services/`
hint: did you mean `api`?
error: environment `prd` is not in `catalog/environments.yaml`
hint: did you mean `prod`?
error: service `jobs` does not deploy to environment `stage`
hint: `jobs` deploys to `dev`, `prod`
error: environment `qa` is not in `catalog/environments.yaml`
hint: `api` deploys to `dev`, `stage`, `prod`
error: nothing to promote from: `dev` is the first environment of `api`
hint: name one with `--from ENV`
error: git revision `no-such-rev` does not exist here
hint: in a shallow clone, fetch more history (`git fetch --unshallow`)
error: `prod` has no earlier version in the history of `catalog/services/jobs.yaml`
hint: name a revision with `--to REV`
"#);
}

#[test]
fn versions_in_text_markdown_and_json() {
    let test = repo();
    test.edit(JOBS, "tag: v2.1.0", "tag: v2.2.0-with-a-rather-long-name");
    commit_at(&test, "jobs", "2026-01-02T10:00:00Z");
    let text = test.expect(&["versions"], 0).stdout;
    let markdown = test.expect(&["versions", "--format", "markdown"], 0).stdout;
    let json = redact(&test, &test.expect(&["versions", "--format", "json"], 0).stdout);
    insta::assert_snapshot!(text, @r#"
SERVICE  dev                   stage               prod
api      1.10                  1.9@aaaaaaaaaaaa *  1.8@bbbbbbbbbbbb *
jobs     v2.2.0-with-a-rathe…  -                   v2.2.0-with-a-rathe…
* differs from the service's previous environment
"#);
    insta::assert_snapshot!(markdown, @r#"
| service | dev | stage | prod |
| --- | --- | --- | --- |
| api | `1.10` | **`1.9@aaaaaaaaaaaa`** \* | **`1.8@bbbbbbbbbbbb`** \* |
| jobs | `v2.2.0-with-a-rather-long-name` | - | `v2.2.0-with-a-rather-long-name` |

\* differs from the service's previous environment
"#);
    insta::assert_snapshot!(json, @r#"
{
  "environments": [
    "dev",
    "stage",
    "prod"
  ],
  "services": [
    {
      "service": "api",
      "file": "catalog/services/api.yaml",
      "versions": [
        {
          "environment": "dev",
          "tag": "1.10",
          "digest": null,
          "differs_from_previous": false,
          "set_at": "2026-01-01T10:00:00Z",
          "set_by": "Ana",
          "commit": "<commit 1>"
        },
        {
          "environment": "stage",
          "tag": "1.9",
          "digest": "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "differs_from_previous": true,
          "set_at": "2026-01-01T10:00:00Z",
          "set_by": "Ana",
          "commit": "<commit 1>"
        },
        {
          "environment": "prod",
          "tag": "1.8",
          "digest": "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
          "differs_from_previous": true,
          "set_at": "2026-01-01T10:00:00Z",
          "set_by": "Ana",
          "commit": "<commit 1>"
        }
      ]
    },
    {
      "service": "jobs",
      "file": "catalog/services/jobs.yaml",
      "versions": [
        {
          "environment": "dev",
          "tag": "v2.2.0-with-a-rather-long-name",
          "digest": null,
          "differs_from_previous": false,
          "set_at": "2026-01-02T10:00:00Z",
          "set_by": "Ana",
          "commit": "<commit 2>"
        },
        {
          "environment": "prod",
          "tag": "v2.2.0-with-a-rather-long-name",
          "digest": null,
          "differs_from_previous": false,
          "set_at": "2026-01-02T10:00:00Z",
          "set_by": "Ana",
          "commit": "<commit 2>"
        }
      ]
    }
  ]
}
"#);
}

#[test]
fn require_digest_fails_only_the_targets_without_one() {
    let test = Test::fixture("versions");
    test.edit(
        "catalog/environments.yaml",
        "approval: manual\n",
        "approval: manual\n    require_digest: true\n",
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!(out.messages(), @r#"
error: catalog/services/jobs.yaml:1:7: environment `prod` requires an image digest; image `ghcr.io/example/jobs:v2.1.0` has none
hint: set `image.digest`, or `overrides.prod.image.digest` for this environment alone
"#);
    assert!(test.exists("generated/api/prod/eu/manifests.yaml"));
    assert!(
        !test.exists("generated/jobs/dev/eu/manifests.yaml"),
        "a failing service keeps (here: has no) output"
    );
    let images: Vec<String> = test
        .read("generated/api/prod/eu/manifests.yaml")
        .lines()
        .filter(|l| l.trim_start().starts_with("image:"))
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(
        images,
        [format!("image: ghcr.io/example/api:1.8@sha256:{}", "b".repeat(64))]
    );
}

#[test]
fn hostile_tags_and_digests_are_refused_and_other_services_build() {
    let test = Test::fixture("versions");
    let mut all = String::new();
    for (from, to) in [
        ("tag: \"1.10\"", "tag: \"1.10\\n---\\nkind: Secret\""),
        ("tag: \"1.10\"", "tag: \"{{ image }}\""),
        ("tag: \"1.10\"", "tag: \"1.10-\""),
        ("tag: \"1.10\"", "tag: \"_1\""),
        ("tag: \"1.10\"", &format!("tag: \"{}\"", "a".repeat(64))),
        ("tag: '1.8'", "tag: '\"1.8\"'"),
        (
            "digest: \"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"",
            "digest: \"sha256:bbbb\\n---\"",
        ),
        (
            "digest: \"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"",
            "digest: \"{{ digest }}\"",
        ),
    ] {
        let original = test.read(API);
        test.edit(API, from, to);
        let out = test.expect(&["build"], 2);
        assert!(test.exists("generated/jobs/prod/eu/manifests.yaml"));
        all.push_str(&out.messages());
        test.write(API, &original);
    }
    insta::assert_snapshot!(all, @r#"
error: catalog/services/api.yaml:9:10: image.tag `1.10
error: catalog/services/api.yaml:9:10: image.tag `{{ image }}` is not a valid image reference: it contains whitespace
error: catalog/services/api.yaml:9:10: image.tag `1.10-` is not a valid label value: the `app.kubernetes.io/version` label must start and end with a letter or digit
hint: did you mean `1.10`?
error: catalog/services/api.yaml:9:10: image.tag `_1` is not a valid label value: the `app.kubernetes.io/version` label must start and end with a letter or digit
hint: did you mean `1`?
error: catalog/services/api.yaml:9:10: image.tag `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` is not a valid label value: it is 64 characters long; the `app.kubernetes.io/version` label allows 63
error: catalog/services/api.yaml:18:18: image.tag `"1.8"` is not a valid image reference: use letters, digits, `_`, `.` and `-`, starting with a letter, digit or `_`
error: catalog/services/api.yaml:19:21: image.digest `sha256:bbbb
error: catalog/services/api.yaml:19:21: image.digest `{{ digest }}` is not a valid image reference: expected `sha256:` followed by 64 hex digits
"#);
}

/// Every object's `spec.selector` in a target's manifests, and the version
/// labels of its workloads and pod templates.
fn selectors_and_versions(text: &str) -> (Vec<Value>, Vec<Value>) {
    let mut selectors = Vec::new();
    let mut versions = Vec::new();
    for doc in text.split("\n---\n").skip(1) {
        let object: Value = serde_norway::from_str(doc).unwrap();
        selectors.push(object["spec"]["selector"].clone());
        let version = |v: &Value| v["metadata"]["labels"]["app.kubernetes.io/version"].clone();
        if matches!(object["kind"].as_str(), Some("Deployment" | "CronJob")) {
            versions.push(version(&object));
            versions.push(version(&object["spec"]["template"]));
        }
    }
    (selectors, versions)
}

#[test]
fn a_new_tag_changes_the_version_label_and_never_a_selector() {
    let test = Test::fixture("versions");
    test.expect(&["build"], 0);
    let path = "generated/api/dev/eu/manifests.yaml";
    let (selectors, versions) = selectors_and_versions(&test.read(path));
    assert_eq!(versions, [Value::from("1.10"), Value::from("1.10")]);
    test.edit(API, "tag: \"1.10\"", "tag: \"2.0\"");
    test.expect(&["build"], 0);
    let (after, versions) = selectors_and_versions(&test.read(path));
    assert_eq!(after, selectors);
    assert_eq!(versions, [Value::from("2.0"), Value::from("2.0")]);
}
