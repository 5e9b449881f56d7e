//! `catalog/environments.yaml` is a shared input: a broken value of any of
//! its delivery keys fails the build closed, exit 2 at the value's file,
//! line and column, with `generated/` byte for byte as it was.

use crate::test::Test;

/// Builds `basic`, sets `line` (`key: value`) on environment `prod` and
/// builds again; returns the error and hint lines.
fn broken_env_key(line: &str) -> String {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let before = test.tree();
    test.edit(
        "catalog/environments.yaml",
        "    approval: manual\n",
        &format!("    approval: manual\n    {line}\n"),
    );
    let out = test.expect(&["build"], 2);
    assert_eq!(test.tree(), before, "`{line}`: the committed output changed");
    out.messages()
}

#[test]
fn a_broken_prometheus_fails_closed() {
    insta::assert_snapshot!(broken_env_key("prometheus: [not, an, address]"));
}

#[test]
fn a_broken_soak_fails_closed() {
    insta::assert_snapshot!(broken_env_key("soak: forever"));
}

#[test]
fn a_broken_require_digest_fails_closed() {
    insta::assert_snapshot!(broken_env_key("require_digest: maybe"));
}
