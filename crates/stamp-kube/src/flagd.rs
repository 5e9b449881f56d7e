//! flagd's flag-definition format (`flags.json`), checked against the
//! schema flagd publishes (vendored in `schemas/flagd/`, release 0.2.15).
//!
//! The schema refers to `./targeting.json` by URL: that file is registered
//! under its own `$id` and the validator is built offline, so nothing is
//! ever fetched. It is compiled once per process, on first use.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Registry, ValidationError, Validator};
use serde_json::Value;

use crate::SchemaError;

const FLAGS_SCHEMA: &str = include_str!("../schemas/flagd/flags.json");
const TARGETING_SCHEMA: &str = include_str!("../schemas/flagd/targeting.json");
const FLAGS_ID: &str = "https://flagd.dev/schema/v0/flags.json";
const TARGETING_ID: &str = "https://flagd.dev/schema/v0/targeting.json";

/// The flagd schema release the vendored files come from.
pub const SCHEMA_VERSION: &str = "0.2.15";

/// Every problem of one flag-definition document; empty when it is valid.
pub fn validate(document: &Value) -> Vec<SchemaError> {
    let validator = match validator() {
        Ok(validator) => validator,
        Err(message) => {
            return vec![SchemaError {
                path: String::new(),
                message: message.clone(),
            }];
        }
    };
    let mut errors = Vec::new();
    for error in validator.iter_errors(document) {
        closest(&error, &mut errors);
    }
    errors
}

/// A flag must match one of flagd's flag shapes (`anyOf`/`oneOf`): "not
/// valid under any of the schemas" says nothing useful, so report the
/// errors of the shape it comes closest to (the fewest, then the deepest).
fn closest(error: &ValidationError<'_>, out: &mut Vec<SchemaError>) {
    let branches = match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => context,
        _ => {
            out.push(SchemaError {
                path: dotted(&error.instance_path().to_string()),
                message: error.to_string(),
            });
            return;
        }
    };
    let depth = |branch: &Vec<ValidationError<'static>>| {
        branch
            .iter()
            .map(|e| e.instance_path().into_iter().count())
            .max()
            .unwrap_or(0)
    };
    let best = branches
        .iter()
        .filter(|b| !b.is_empty())
        .min_by(|a, b| a.len().cmp(&b.len()).then(depth(b).cmp(&depth(a))));
    match best {
        Some(branch) => branch.iter().for_each(|e| closest(e, out)),
        None => out.push(SchemaError {
            path: dotted(&error.instance_path().to_string()),
            message: error.masked().to_string(),
        }),
    }
}

/// The compiled schema, or why the vendored files do not compile (a build
/// defect, reported as an error rather than a panic).
fn validator() -> &'static Result<Validator, String> {
    static VALIDATOR: OnceLock<Result<Validator, String>> = OnceLock::new();
    VALIDATOR.get_or_init(|| compile(&parse(FLAGS_SCHEMA)?, FLAGS_ID))
}

fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("a vendored flagd schema is not JSON: {e}"))
}

/// Compiles `root`, whose URI is `base`, offline, with both vendored files
/// registered under their `$id`, so that no reference is ever fetched.
fn compile(root: &Value, base: &str) -> Result<Validator, String> {
    let (flags, targeting) = (parse(FLAGS_SCHEMA)?, parse(TARGETING_SCHEMA)?);
    let registry = Registry::new()
        .add(FLAGS_ID, flags)
        .and_then(|r| r.add(TARGETING_ID, targeting))
        .and_then(|r| r.prepare())
        .map_err(|e| format!("the flagd schemas do not load: {e}"))?;
    jsonschema::options()
        .offline()
        // Draft 7 ignores `$id` beside the root's `$ref`: give the base
        // the relative `./targeting.json` resolves against.
        .with_base_uri(base)
        .with_registry(&registry)
        .build(root)
        .map_err(|e| format!("the flagd schema does not compile: {e}"))
}

/// `/flags/a/variants` → `flags.a.variants`, `/flags/0` → `flags[0]`, the
/// path style of [`SchemaError`].
fn dotted(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flag(targeting: Value) -> Value {
        json!({"flags": {"new-checkout": {
            "state": "ENABLED", "variants": {"on": true, "off": false},
            "defaultVariant": "off", "targeting": targeting}}})
    }

    #[test]
    fn accepts_fractional_targeting_with_a_team_rule() {
        let doc = flag(json!({"if": [
            {"in": [{"var": "team"}, ["beta-testers"]]}, "on",
            {"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "targetingKey"}]}, ["on", 5], ["off", 95]]}
        ]}));
        assert_eq!(validate(&doc), vec![]);
    }

    #[test]
    fn reports_the_path_of_a_bad_flag() {
        let mut doc = flag(json!({}));
        doc["flags"]["new-checkout"]["state"] = json!("ON");
        let errors = validate(&doc);
        assert_eq!(
            errors,
            vec![SchemaError {
                path: "flags.new-checkout.state".into(),
                message: r#""ON" is not one of "ENABLED" or "DISABLED""#.into()
            }]
        );
    }

    fn examples(kind: &str) -> Vec<(String, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/flagd")
            .join(kind);
        let mut found: Vec<(String, Value)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                (path.display().to_string(), serde_json::from_str(&text).unwrap())
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// The schema's own corpus (copied from the shared folder with it).
    /// `*.flagdimport.*` files are the flagd daemon's format, which also
    /// takes flags as an array: upstream checks them against its `flagd.json`,
    /// a `$ref` to the `flagdConfig` definition; the rest against flags.json.
    #[test]
    fn accepts_every_positive_example() {
        let daemon = compile(
            &json!({"$ref": "./flags.json#/definitions/flagdConfig"}),
            "https://flagd.dev/schema/v0/flagd.json",
        )
        .unwrap();
        let examples = examples("positive");
        assert_eq!(examples.len(), 9);
        for (path, document) in examples {
            if path.contains(".flagdimport.") {
                let errors: Vec<String> = daemon.iter_errors(&document).map(|e| e.to_string()).collect();
                assert_eq!(errors, Vec::<String>::new(), "{path}");
            } else {
                assert_eq!(validate(&document), vec![], "{path}");
            }
        }
    }

    /// Each negative example fails, for the reason its name gives, at its path.
    #[test]
    fn refuses_every_negative_example() {
        let expected = [
            (
                "empty-variants.json",
                "flags.myBoolFlag.variants",
                "{} has less than 1 property",
            ),
            (
                "malformed-flag.json",
                "flags.not-a-flag",
                r#""state" is a required property"#,
            ),
            (
                "missing-variants.json",
                "flags.myBoolFlag",
                r#""variants" is a required property"#,
            ),
            (
                "mixed-variant-types.ffconfig.json",
                "flags.myBoolFlag.variants.off",
                r#""false" is not of type "boolean""#,
            ),
            (
                "state-set-incorrectly.json",
                "flags.myBoolFlag.state",
                r#""WILL-FAIL" is not one of "ENABLED" or "DISABLED""#,
            ),
            ("with-array-flags.json", "flags", r#"is not of type "object""#),
            (
                "with-invalid-flag-metadata.json",
                "flags.myBoolFlag.metadata.invalid",
                r#"{"key":"value"} is not of types "boolean", "number", "string""#,
            ),
            (
                "with-invalid-flag-set-metadata.json",
                "metadata.invalid",
                r#"{"key":"value"} is not of types "boolean", "number", "string""#,
            ),
            (
                "with-invalid-targeting.json",
                "flags.targetedFlag.targeting",
                "Additional properties are not allowed ('not-a-real-rule' was unexpected)",
            ),
        ];
        let examples = examples("negative");
        assert_eq!(examples.len(), expected.len());
        for ((path, document), (name, at, message)) in examples.iter().zip(expected) {
            assert!(path.ends_with(name), "{path}");
            let errors = validate(document);
            assert_eq!(errors[0].path, at, "{path}: {errors:?}");
            assert!(errors[0].message.ends_with(message), "{path}: {errors:?}");
        }
    }

    #[test]
    fn paths_are_dotted() {
        assert_eq!(dotted(""), "");
        assert_eq!(dotted("/flags/a~1b/variants/0"), "flags.a/b.variants[0]");
    }
}
