//! `stamp validate` reads committed output with the catalog's YAML reader:
//! document breaks are the parser's, not lines that look like one.

use crate::test::Test;

/// Two objects appended to a built target: a ConfigMap whose block scalar
/// holds `---` lines, followed by a field that breaks it, and a document
/// break with a comment before a Secret that breaks its schema too.
const APPENDED: &str = "---
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  notes: |
    first
    ---
    kind: Nope
    ---
  other: two
datta: {}
--- # a comment after the break
apiVersion: v1
kind: Secret
metadata:
  name: token
strinData: {}
";

#[test]
fn a_document_break_inside_a_block_scalar_is_text() {
    let test = Test::fixture("basic");
    test.expect(&["build"], 0);
    let path = "generated/jobs/dev/eu/manifests.yaml";
    let text = test.read(path);
    test.write(path, &format!("{text}{APPENDED}"));
    let out = test.expect(&["validate", "generated/jobs/dev/eu"], 2);
    insta::assert_snapshot!("validate_block_scalar_break", out.stderr);
}
