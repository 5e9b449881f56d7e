//! Integration tests: the real binary on fixture repos (see `test.rs`).

mod test;

mod build;
mod check;
mod errors;
