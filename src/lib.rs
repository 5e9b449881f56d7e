//! stamp: a platform repo's service catalog in, validated GitOps output out.
//!
//! The pipeline, one module per stage: `load` (read the repo) → `catalog` and
//! `blueprint` (parse) → `resolve` (one typed target per service × env ×
//! region) → `render` (templates, metadata, schema validation) → `emit` (file
//! contents) → `write` (atomic writes). `compile` runs the stages; commands
//! are built on top.

mod atomic;
pub mod blueprint;
pub mod catalog;
mod changes;
pub mod cli;
mod commands;
pub mod compile;
pub mod diagnostic;
pub mod emit;
mod error;
mod fingerprint;
mod git;
#[cfg(test)]
mod layering;
pub mod load;
mod paths;
mod policy;
pub mod render;
mod report;
pub mod resolve;
mod shard;
mod stat_cache;
mod timings;
mod write;
pub mod yaml_tree;

use std::path::PathBuf;

use cli::{Cli, Command};

/// The git commit this binary was built from (see build.rs), when known:
/// `stamp init` pins it as the pre-commit `rev`, since no release is tagged yet.
pub fn build_commit() -> Option<&'static str> {
    Some(env!("STAMP_COMMIT")).filter(|c| !c.is_empty())
}

fn cache(no_cache: bool) -> compile::Cache {
    if no_cache {
        compile::Cache::Ignore
    } else {
        compile::Cache::Use
    }
}

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse_args();
    if let Command::Init { dir } = &cli.command {
        // init works on a folder that is not a platform repo yet.
        let dir = dir
            .clone()
            .or_else(|| cli.dir.clone())
            .unwrap_or_else(|| PathBuf::from("."));
        let settings = cli::Settings {
            root: dir.clone(),
            format: cli.format,
            color: false,
            quiet: cli.quiet,
        };
        return commands::init::run(&settings, &dir);
    }
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("error: {message}");
            return commands::ERRORS;
        }
    };
    if let Some(jobs) = cli.jobs {
        // Only fails when a pool already exists, which cannot happen here.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build_global();
    }
    match cli.command {
        Command::Build { no_cache, shard } => exit_code(commands::build::run(&settings, cache(no_cache), shard)),
        Command::Check { no_cache, shard } => exit_code(commands::check::run(&settings, cache(no_cache), shard)),
        Command::Validate { paths } => commands::validate::run(&settings, &paths),
        Command::Watch => commands::watch::run(&settings),
        Command::Affected { base, max_jobs, .. } => commands::affected::run(&settings, &base, max_jobs),
        Command::Diff { base, stat } => commands::diff::run(&settings, base.as_deref(), stat),
        Command::Explain { service, env, region } => {
            commands::explain::run(&settings, &service, env.as_deref(), region.as_deref())
        }
        Command::New(args) => commands::new::run(&settings, &args),
        Command::Policy => commands::policy::run(&settings),
        Command::Init { .. } => unreachable!("handled before the repo is looked for"),
    }
}

/// The one place a command's outcome becomes the process exit code.
fn exit_code(outcome: Result<error::ExitStatus, error::Error>) -> i32 {
    match outcome {
        Ok(status) => status.code(),
        Err(error) => {
            eprintln!("error: {error}");
            error::ExitStatus::Errors.code()
        }
    }
}
