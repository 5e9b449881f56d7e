//! `--shard I/N`: the union of all shards is a full run.

use crate::test::Test;

#[test]
fn shards_together_write_exactly_a_full_build() {
    let full = Test::fixture("basic");
    full.expect(&["build"], 0);
    let sharded = Test::fixture("basic");
    for i in 1..=3 {
        sharded.expect(&["build", "--shard", &format!("{i}/3")], 0);
    }
    assert_eq!(sharded.tree(), full.tree());
    for i in 1..=3 {
        sharded.expect(&["check", "--shard", &format!("{i}/3")], 0);
    }
    // A shard neither writes nor removes another shard's output.
    sharded.remove("catalog/services/jobs.yaml");
    let mut removed_by = Vec::new();
    for i in 1..=3 {
        let before = sharded.exists("generated/jobs/dev/eu/manifests.yaml");
        sharded.expect(&["build", "--shard", &format!("{i}/3")], 0);
        if before && !sharded.exists("generated/jobs/dev/eu/manifests.yaml") {
            removed_by.push(i);
        }
    }
    assert_eq!(removed_by.len(), 1, "exactly one shard owns jobs");
}

#[test]
fn bad_shard_is_refused() {
    let test = Test::fixture("basic");
    let out = test.expect(&["build", "--shard", "4/3"], 2);
    assert_eq!(
        out.messages(),
        "error: invalid value '4/3' for '--shard <I/N>': `4/3` is not a shard: use I/N with 1 <= I <= N, e.g. 2/4\n"
    );
}
