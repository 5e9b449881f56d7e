//! Integration tests: the real binary on fixture repos (see `test.rs`).

mod test;

mod argocd;
mod build;
mod check;
mod codeowners;
mod errors;
mod incremental;
mod onboarding;
