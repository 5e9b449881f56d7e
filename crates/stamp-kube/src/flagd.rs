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
/// errors of the shape it comes closest to (the deepest, then the fewest).
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
            .map(|e| e.instance_path().to_string().len())
            .max()
            .unwrap_or(0)
    };
    let best = branches
        .iter()
        .filter(|b| !b.is_empty())
        .max_by(|a, b| depth(a).cmp(&depth(b)).then(b.len().cmp(&a.len())));
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
    VALIDATOR.get_or_init(|| {
        let parse = |text: &str| serde_json::from_str::<Value>(text).map_err(|e| e.to_string());
        let flags = parse(FLAGS_SCHEMA)?;
        let targeting = parse(TARGETING_SCHEMA)?;
        let registry = Registry::new()
            .add(TARGETING_ID, targeting)
            .and_then(|r| r.prepare())
            .map_err(|e| format!("the flagd targeting schema does not load: {e}"))?;
        jsonschema::options()
            .offline()
            // Draft 7 ignores `$id` beside the root's `$ref`: give the base
            // the relative `./targeting.json` resolves against.
            .with_base_uri(FLAGS_ID)
            .with_registry(&registry)
            .build(&flags)
            .map_err(|e| format!("the flagd schema does not compile: {e}"))
    })
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
        assert!(!errors.is_empty());
        assert!(
            errors.iter().any(|e| e.path == "flags.new-checkout.state"),
            "{errors:?}"
        );
    }

    #[test]
    fn paths_are_dotted() {
        assert_eq!(dotted(""), "");
        assert_eq!(dotted("/flags/a~1b/variants/0"), "flags.a/b.variants[0]");
    }
}
