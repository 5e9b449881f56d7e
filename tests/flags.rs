//! Feature flags (SPEC §4): the generated flagd documents are evaluated here
//! the way flagd evaluates them, not only compared as JSON. The evaluator
//! below re-implements what the documents use: JSONLogic `if`, `in`, `var`
//! and flagd's `fractional` (flagd v0.16.1, core/pkg/evaluator/fractional.go:
//! murmur3 x86 32-bit of flag key + targetingKey, bucket =
//! hash × total weight >> 32, variants taken in order).

use serde::Deserialize as _;
use serde_json::{Value, json};

use crate::test::Test;

// ---------------------------------------------------------------- evaluator

/// MurmurHash3 x86 32-bit, as flagd's `github.com/twmb/murmur3` StringSum32 (seed 0).
fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k |= u32::from(*b) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// JSONLogic with flagd's context: `ctx` is the evaluation context, and
/// `$flagd.flagKey` the flag's key.
fn eval(rule: &Value, ctx: &Value, flag_key: &str) -> Value {
    let Value::Object(map) = rule else {
        return match rule {
            Value::Array(items) => Value::Array(items.iter().map(|i| eval(i, ctx, flag_key)).collect()),
            other => other.clone(),
        };
    };
    assert_eq!(map.len(), 1, "one operator per rule: {rule}");
    let (op, args) = map.iter().next().unwrap();
    let args: Vec<Value> = match args {
        Value::Array(items) => items.clone(),
        single => vec![single.clone()],
    };
    match op.as_str() {
        "var" => {
            let name = args[0].as_str().unwrap();
            if name == "$flagd.flagKey" {
                return Value::from(flag_key);
            }
            ctx.get(name).cloned().unwrap_or(Value::Null)
        }
        "in" => {
            let (needle, haystack) = (eval(&args[0], ctx, flag_key), eval(&args[1], ctx, flag_key));
            Value::Bool(match haystack {
                Value::Array(items) => items.contains(&needle),
                Value::String(s) => needle.as_str().is_some_and(|n| s.contains(n)),
                _ => false,
            })
        }
        "if" => {
            // if / else-if chains: [c1, v1, c2, v2, ..., else].
            let mut i = 0;
            while i + 1 < args.len() {
                if truthy(&eval(&args[i], ctx, flag_key)) {
                    return eval(&args[i + 1], ctx, flag_key);
                }
                i += 2;
            }
            args.get(i).map_or(Value::Null, |e| eval(e, ctx, flag_key))
        }
        "fractional" => fractional(&args, ctx, flag_key),
        other => panic!("the evaluator does not know `{other}`: {rule}"),
    }
}

fn fractional(args: &[Value], ctx: &Value, flag_key: &str) -> Value {
    let args: Vec<Value> = args.iter().map(|a| eval(a, ctx, flag_key)).collect();
    let (bucket_by, distributions) = match args[0].as_str() {
        Some(by) => (by.to_string(), &args[1..]),
        None => match ctx.get("targetingKey").and_then(Value::as_str) {
            Some(key) if !key.is_empty() => (format!("{flag_key}{key}"), &args[..]),
            // No targetingKey: flagd returns null, and so the default variant.
            _ => return Value::Null,
        },
    };
    let weights: Vec<(Value, u64)> = distributions
        .iter()
        .map(|d| (d[0].clone(), d.get(1).map_or(1, |w| w.as_u64().unwrap())))
        .collect();
    let total: u64 = weights.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return Value::Null;
    }
    let bucket = (u64::from(murmur3_32(bucket_by.as_bytes(), 0)) * total) >> 32;
    let mut end = 0;
    for (variant, weight) in weights {
        end += weight;
        if bucket < end {
            return variant;
        }
    }
    unreachable!("the bucket is below the total weight")
}

/// The value a flagd provider returns for `key` in `ctx`.
fn evaluate(document: &Value, key: &str, ctx: &Value) -> bool {
    let flag = &document["flags"][key];
    assert_eq!(flag["state"], "ENABLED");
    let variant = match flag.get("targeting") {
        Some(rule) => eval(rule, ctx, key),
        None => Value::Null,
    };
    let variant = if variant.is_null() {
        flag["defaultVariant"].clone()
    } else {
        variant
    };
    let name = variant.as_str().unwrap_or_else(|| panic!("variant {variant}"));
    flag["variants"][name]
        .as_bool()
        .unwrap_or_else(|| panic!("no variant `{name}` in {flag}"))
}

/// How many of `n` users (`user-0` ...), with `extra` context, get the flag.
fn share(document: &Value, key: &str, n: usize, extra: &Value) -> usize {
    (0..n)
        .filter(|i| {
            let mut ctx = extra.clone();
            ctx["targetingKey"] = Value::from(format!("user-{i}"));
            evaluate(document, key, &ctx)
        })
        .count()
}

#[test]
fn murmur3_matches_the_reference_vectors() {
    // From the reference implementation's test suite (SMHasher / twmb/murmur3).
    assert_eq!(murmur3_32(b"", 0), 0);
    assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
    assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
    assert_eq!(murmur3_32(b"hello, world", 0), 0x149b_bb7f);
    assert_eq!(
        murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
        0x2e4f_f723
    );
}

// ------------------------------------------------------------------ helpers

fn built() -> Test {
    let test = Test::fixture("flags/base");
    test.expect(&["build"], 0);
    test
}

fn documents(test: &Test, target: &str) -> Vec<(String, Value)> {
    let text = test.read(&format!("generated/{target}/manifests.yaml"));
    // Each document's own text (after the header comment), for byte comparisons.
    let texts: Vec<String> = text.split("\n---\n").skip(1).map(str::to_string).collect();
    let values: Vec<Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    assert_eq!(texts.len(), values.len());
    texts.into_iter().zip(values).collect()
}

/// The text of the target's object of `kind`.
fn object_text(test: &Test, target: &str, kind: &str) -> Option<String> {
    documents(test, target)
        .into_iter()
        .find(|(_, v)| v["kind"] == kind)
        .map(|(t, _)| t)
}

/// The parsed `flags.json` of a target, if it has one.
fn flagd(test: &Test, target: &str) -> Option<Value> {
    let service = target.split('/').next().unwrap();
    documents(test, target)
        .into_iter()
        .find(|(_, v)| v["kind"] == "ConfigMap" && v["metadata"]["name"] == format!("{service}-flags"))
        .map(|(_, v)| serde_json::from_str(v["data"]["flags.json"].as_str().unwrap()).unwrap())
}

// -------------------------------------------------------------------- tests

#[test]
fn the_whole_tree_of_every_flag_shape() {
    let test = built();
    insta::assert_snapshot!("flags_tree", test.tree());
}

#[test]
fn a_percentage_serves_its_share_and_the_team_rule_wins() {
    let test = built();
    let none = json!({});
    let within = |got: usize, percent: usize| got.abs_diff(percent * 100) <= 150;
    // 25 % in dev, 5 % in prod (the override), over 10,000 users.
    let dev = flagd(&test, "ramp/dev/eu").unwrap();
    let got = share(&dev, "new-checkout", 10_000, &none);
    assert!(within(got, 25), "25 %: {got} of 10,000");
    let prod = flagd(&test, "ramp/prod/eu").unwrap();
    let got = share(&prod, "new-checkout", 10_000, &none);
    assert!(within(got, 5), "5 %: {got} of 10,000");
    // Below 100 %, a context without a targetingKey gets off.
    assert!(!evaluate(&dev, "new-checkout", &none));

    // 30 % plus a team: the team gets it whatever the percentage.
    let doc = flagd(&test, "ramp-teams/prod/eu").unwrap();
    let team = json!({ "team": "team-search" });
    assert_eq!(share(&doc, "search-v2", 10_000, &team), 10_000);
    assert!(
        evaluate(&doc, "search-v2", &team),
        "a team member without a targetingKey"
    );
    let got = share(&doc, "search-v2", 10_000, &json!({ "team": "team-other" }));
    assert!(within(got, 30), "30 %: {got} of 10,000");

    // Team-only: the teams and nobody else.
    let doc = flagd(&test, "team-only/dev/eu").unwrap();
    for t in ["beta-testers", "team-a"] {
        assert_eq!(share(&doc, "beta-search", 10_000, &json!({ "team": t })), 10_000);
    }
    assert_eq!(share(&doc, "beta-search", 10_000, &none), 0);

    // Disabled: off for everyone, its teams too.
    let doc = flagd(&test, "disabled/dev/eu").unwrap();
    assert_eq!(share(&doc, "legacy-export", 10_000, &json!({ "team": "team-a" })), 0);

    // On at 100 %: everyone, a context without a targetingKey too.
    let doc = flagd(&test, "always-on/prod/eu").unwrap();
    assert!(evaluate(&doc, "dark-mode", &none));
    assert_eq!(share(&doc, "dark-mode", 10_000, &none), 10_000);

    // A profile default, raised to 100 % by the service's prod override.
    let dev = flagd(&test, "from-profile/dev/eu").unwrap();
    assert!(within(share(&dev, "kill-switch", 10_000, &none), 50));
    let prod = flagd(&test, "from-profile/prod/eu").unwrap();
    assert_eq!(share(&prod, "kill-switch", 10_000, &none), 10_000);
}

#[test]
fn a_flag_exists_only_where_its_environments_say() {
    let test = built();
    assert!(flagd(&test, "scoped/dev/eu").is_some());
    assert_eq!(flagd(&test, "scoped/prod/eu"), None);
    assert_eq!(flagd(&test, "plain/dev/eu"), None);
    // No flags, no mount: the CronJob in prod matches a flagless one.
    let prod = object_text(&test, "scoped/prod/eu", "CronJob").unwrap();
    assert!(!prod.contains("FLAGD_"), "{prod}");
    assert!(!prod.contains("-flags"), "{prod}");
}

#[test]
fn a_ramp_is_monotonic_over_100_000_users() {
    let test = Test::fixture("flags/base");
    let mut previous: Option<(i64, Vec<bool>)> = None;
    for percent in [0, 1, 5, 10, 25, 50, 75, 90, 99, 100] {
        test.write(
            "catalog/services/ramp.yaml",
            &test
                .read("catalog/services/ramp.yaml")
                .lines()
                .map(|l| match l.split_once("rollout_percentage:") {
                    Some((indent, _)) if !l.contains('{') => format!("{indent}rollout_percentage: {percent}\n"),
                    _ => format!("{l}\n"),
                })
                .collect::<String>(),
        );
        test.expect(&["build"], 0);
        let doc = flagd(&test, "ramp/dev/eu").unwrap();
        let on: Vec<bool> = (0..100_000)
            .map(|i| evaluate(&doc, "new-checkout", &json!({ "targetingKey": format!("u{i}") })))
            .collect();
        let count = on.iter().filter(|o| **o).count() as i64;
        assert!((count - percent * 1000).abs() <= 500, "{percent} %: {count} of 100,000");
        if let Some((before, was_on)) = &previous {
            let lost = was_on.iter().zip(&on).filter(|(was, now)| **was && !**now).count();
            assert_eq!(
                lost, 0,
                "{lost} users lost the flag going from {before} % to {percent} %"
            );
        }
        previous = Some((percent, on));
    }
}

#[test]
fn a_flag_only_change_leaves_the_pod_template_byte_identical() {
    let test = built();
    let target = "ramp/dev/eu";
    let deployment = object_text(&test, target, "Deployment").unwrap();
    let config_map = flagd(&test, target).unwrap();
    test.edit(
        "catalog/services/ramp.yaml",
        "rollout_percentage: 25",
        "rollout_percentage: 60",
    );
    test.edit(
        "catalog/services/ramp.yaml",
        "one-click checkout",
        "one-click checkout, now 60 %",
    );
    test.edit(
        "catalog/services/ramp.yaml",
        "flags:\n  new-checkout:",
        "flags:\n  another: { teams: [x] }\n  new-checkout:",
    );
    test.expect(&["build"], 0);
    assert_ne!(flagd(&test, target).unwrap(), config_map);
    assert_eq!(object_text(&test, target, "Deployment").unwrap(), deployment);

    // The first flag adds the mount; removing the last takes it away again.
    let plain = object_text(&test, "plain/dev/eu", "Deployment").unwrap();
    test.edit(
        "catalog/services/plain.yaml",
        "owners: { team: team-a }",
        "owners: { team: team-a }\nflags: { first: {} }",
    );
    test.expect(&["build"], 0);
    let flagged = object_text(&test, "plain/dev/eu", "Deployment").unwrap();
    assert_ne!(flagged, plain);
    assert!(flagged.contains("mountPath: /etc/flagd"), "{flagged}");
    test.edit("catalog/services/plain.yaml", "\nflags: { first: {} }", "");
    test.expect(&["build"], 0);
    assert_eq!(object_text(&test, "plain/dev/eu", "Deployment").unwrap(), plain);
    assert_eq!(flagd(&test, "plain/dev/eu"), None);
}

#[test]
fn hostile_strings_in_descriptions_and_teams_stay_values() {
    let test = Test::fixture("flags/base");
    let description = "line one\n---\nkind: Secret\nmetadata: {name: x}\n{{ service }} \"quoted\" 'single' |safe";
    let teams = ["a\n---\nb", "{{ team }}", "\"quoted\"", "x: y", "- z"];
    let service = test.read("catalog/services/ramp.yaml").replace(
        "    description: one-click checkout\n",
        &format!(
            "    description: {}\n    teams: {}\n",
            serde_json::to_string(description).unwrap(),
            serde_json::to_string(&teams).unwrap()
        ),
    );
    test.write("catalog/services/ramp.yaml", &service);
    test.expect(&["build"], 0);
    let kinds: Vec<String> = documents(&test, "ramp/dev/eu")
        .iter()
        .map(|(_, v)| {
            format!(
                "{} {}",
                v["kind"].as_str().unwrap(),
                v["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace dev-ramp-eu",
            "ConfigMap ramp-flags",
            "ServiceAccount ramp",
            "Deployment ramp"
        ]
    );
    let doc = flagd(&test, "ramp/dev/eu").unwrap();
    assert_eq!(doc["flags"]["new-checkout"]["metadata"]["description"], description);
    let mut sorted = teams.to_vec();
    sorted.sort();
    assert_eq!(
        doc["flags"]["new-checkout"]["targeting"]["if"][0]["in"][1],
        json!(sorted)
    );
    for team in teams {
        assert!(evaluate(&doc, "new-checkout", &json!({ "team": team })), "{team:?}");
    }
    let out = test.expect(&["flags", "--format", "json", "--service", "ramp"], 0);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["flags"][0]["environments"]["dev"]["description"], description);
}

#[test]
fn the_flags_command_in_each_format() {
    let test = built();
    let text = test.expect(&["flags"], 0);
    insta::assert_snapshot!("flags_text", text.stdout);
    let markdown = test.expect(&["flags", "--format", "markdown", "--env", "prod"], 0);
    insta::assert_snapshot!("flags_markdown_prod", markdown.stdout);
    let json = test.expect(
        &["flags", "--format", "json", "--service", "ramp", "--service", "scoped"],
        0,
    );
    insta::assert_snapshot!("flags_json_ramp_scoped", json.stdout);
    let unknown = test.expect(&["flags", "--service", "rampp", "--env", "staging"], 2);
    assert_eq!(
        unknown.stderr,
        "error: service `rampp` is not in the catalog\nhint: did you mean `ramp`?\nerror: environment `staging` is not in the catalog\n"
    );
    let refused = test.expect(&["flags", "--format", "github-matrix"], 2);
    assert!(
        refused.stderr.starts_with(
            "error: `--format github-matrix` is not a format of `stamp flags`: use `text`, `json` or `markdown`"
        ),
        "{}",
        refused.stderr
    );
}

#[test]
fn explain_shows_each_flag_setting_and_where_it_was_set() {
    let test = built();
    let out = test.expect(&["explain", "from-profile", "--env", "prod"], 0);
    let lines: String = out
        .stdout
        .lines()
        .filter(|l| l.contains("flags"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("flags_explain", lines);
}

// ------------------------------------------------------------------- errors

/// Builds `flags/base` with the `flags/errors/<case>` overlay: exit 2, the
/// error at `location`, the other services still built.
fn broken(case: &str, location: &str) {
    let test = Test::fixture("flags/base").overlay(&format!("flags/errors/{case}"));
    let out = test.expect(&["build"], 2);
    assert!(
        out.stderr.contains(&format!("error: {location}")),
        "expected an error at {location}, got:\n{}",
        out.stderr
    );
    assert!(
        test.exists("generated/plain/dev/eu/manifests.yaml"),
        "other services are built"
    );
    let diagnostics: String = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("built "))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(format!("flags_error_{case}"), diagnostics);
}

#[test]
fn percentage_above_100() {
    broken("percentage-above-100", "catalog/services/ramp.yaml:10:25:");
}

#[test]
fn percentage_not_a_whole_number() {
    broken("percentage-fraction", "catalog/services/ramp.yaml:10:25:");
}

#[test]
fn misspelled_flag_setting() {
    broken("misspelled-setting", "catalog/services/ramp.yaml:10:5:");
}

#[test]
fn environment_the_service_does_not_deploy_to() {
    broken("environment-not-deployed", "catalog/services/scoped.yaml:10:25:");
}

#[test]
fn flag_key_not_an_identifier() {
    broken("bad-flag-key", "catalog/services/always-on.yaml:8:3:");
}

#[test]
fn environments_in_an_override() {
    broken("override-environments", "catalog/services/ramp.yaml:13:53:");
}

#[test]
fn override_of_a_flag_absent_there() {
    broken("override-absent-flag", "catalog/services/scoped.yaml:13:14:");
}

#[test]
fn enabled_not_a_bool() {
    broken("enabled-not-bool", "catalog/services/disabled.yaml:9:14:");
}

#[test]
fn flags_without_the_flags_component() {
    let test = Test::fixture("flags/base");
    test.remove("components/flags/component.kdl");
    test.remove("components/flags/flags.yaml.j2");
    // The profile that sets flags is a shared input: nothing is written.
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("flags_without_component", out.messages());
    assert_eq!(test.tree(), "");
}

#[test]
fn broken_flags_in_a_profile_fail_closed() {
    let test = built();
    let before = test.tree();
    test.edit(
        "catalog/profiles.yaml",
        "rollout_percentage: 50",
        "rollout_percentage: 500",
    );
    test.edit(
        "catalog/services/ramp.yaml",
        "rollout_percentage: 25",
        "rollout_percentage: 26",
    );
    let out = test.expect(&["build"], 2);
    assert_eq!(
        out.messages(),
        "error: catalog/profiles.yaml:10:44: flags.kill-switch.rollout_percentage must be between 0 and 100, found 500\n\
         error: shared inputs have errors; nothing was written or removed\n\
         hint: the committed output is left as it was until the errors above are fixed\n"
    );
    assert_eq!(test.tree(), before);
}

// -------------------------------------------------------------------- tiers

/// `stamp affected` after a flag change: (targets, tier).
fn affected_by(change: impl Fn(&Test)) -> (Vec<String>, String) {
    let test = built();
    test.commit("base");
    change(&test);
    test.expect(&["build"], 0);
    test.commit("change");
    let out = test.expect(&["affected", "--base", "HEAD~1", "--format", "json"], 0);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let targets = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}/{}/{}", t["service"], t["env"], t["region"]).replace('"', ""))
        .collect();
    (targets, report["tier"].as_str().unwrap().to_string())
}

#[test]
fn a_flag_change_needs_the_tier_of_the_environments_it_touches() {
    // A dev-only ramp is dev's tier; the same flag in every environment is prod's.
    let dev_only = affected_by(|t| {
        t.edit(
            "catalog/services/ramp.yaml",
            "rollout_percentage: 25",
            "rollout_percentage: 50",
        )
    });
    assert_eq!(dev_only, (vec!["ramp/dev/eu".to_string()], "auto".to_string()));
    let everywhere = affected_by(|t| t.edit("catalog/services/ramp.yaml", "one-click checkout", "one click"));
    assert_eq!(
        everywhere,
        (
            vec!["ramp/dev/eu".to_string(), "ramp/prod/eu".to_string()],
            "manual".to_string()
        )
    );
    // A first flag adds no component (`flags` is always on): still dev's tier.
    let first = affected_by(|t| {
        t.edit(
            "catalog/services/plain.yaml",
            "owners: { team: team-a }",
            "owners: { team: team-a }\nflags: { first: { environments: [dev] } }",
        )
    });
    assert_eq!(first, (vec!["plain/dev/eu".to_string()], "auto".to_string()));
}

#[test]
fn an_archetype_that_does_not_mount_the_flags_is_an_error() {
    let test = built();
    let before = test.read("generated/ramp/dev/eu/manifests.yaml");
    test.edit(
        "archetypes/worker/deployment.yaml.j2",
        "      {{ workload.pod_volumes(service, flags)|indent(6) }}\n",
        "",
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("flags_unmounted", out.messages());
    // The failing targets keep their last good output.
    assert_eq!(test.read("generated/ramp/dev/eu/manifests.yaml"), before);
}

// ------------------------------------------------------------------- schema

/// Every `flags.json` under `generated/`, by path.
fn every_flags_json(test: &Test) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for block in test.tree().split("=== ").filter(|b| b.contains("name: ")) {
        let (path, _) = block.split_once('\n').unwrap();
        if let Some(target) = path
            .strip_prefix("generated/")
            .and_then(|p| p.strip_suffix("/manifests.yaml"))
            && let Some(document) = flagd(test, target)
        {
            found.push((path.to_string(), document));
        }
    }
    found
}

#[test]
fn every_generated_flags_json_of_the_example_and_the_fixture_validates() {
    let example = Test::empty();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["catalog", "archetypes", "components"] {
        std::fs::create_dir_all(example.path().join(dir)).unwrap();
        crate::test::copy_tree(&root.join(dir), &example.path().join(dir));
    }
    std::fs::copy(root.join("stamp.yaml"), example.path().join("stamp.yaml")).unwrap();
    example.expect(&["build"], 0);
    for test in [example, built()] {
        let documents = every_flags_json(&test);
        assert!(documents.len() >= 5, "{} flag files", documents.len());
        for (path, document) in documents {
            assert_eq!(stamp_kube::flagd::validate(&document), Vec::new(), "{path}");
        }
    }
}

#[test]
fn a_template_writing_an_invalid_flag_file_fails_its_targets() {
    let test = built();
    let before = test.read("generated/ramp/dev/eu/manifests.yaml");
    test.edit(
        "components/flags/flags.yaml.j2",
        "flags.json: {{ flags_json }}",
        "flags.json: '{\"flags\": {\"x\": {\"state\": \"ON\"}}}'",
    );
    let out = test.expect(&["build"], 2);
    insta::assert_snapshot!("flags_invalid_document", out.messages());
    // The failing targets keep their last good output.
    assert_eq!(test.read("generated/ramp/dev/eu/manifests.yaml"), before);
}
