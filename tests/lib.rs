//! Integration tests: the real binary on fixture repos (see `test.rs`).

mod test;

mod affected;
mod argocd;
mod build;
mod check;
mod codeowners;
mod crd;
mod diff;
mod errors;
mod fail_closed_env;
mod flags;
mod incremental;
mod noop;
mod onboarding;
mod ops;
mod policy;
mod preview;
mod rollout;
mod shard;
mod trust_cli;
mod trust_data;
mod trust_gate;
mod trust_input;
mod trust_values;
mod validate;
mod versions;
mod watch;
