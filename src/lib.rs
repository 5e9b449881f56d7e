//! stamp: a platform repo's service catalog in, validated GitOps output out.
//!
//! The pipeline, one module per stage: `load` (read the repo) → `catalog` and
//! `blueprint` (parse) → `resolve` (one typed target per service × env ×
//! region) → `render` (templates, metadata, schema validation) → `emit` (file
//! contents) → `write` (atomic writes). `compile` runs the stages; commands
//! are built on top.

pub mod allocator;
mod atomic;
mod binary;
pub mod blueprint;
pub mod catalog;
mod changes;
pub mod cli;
mod commands;
pub mod compile;
pub mod diagnostic;
mod edit;
pub mod emit;
mod error;
mod file_stat;
mod fingerprint;
pub mod flags;
#[cfg(test)]
mod fn_length;
mod git;
mod image_history;
#[cfg(test)]
mod layering;
pub mod load;
mod migration_job;
mod paths;
mod policy;
mod progress;
pub mod render;
mod report;
pub mod resolve;
mod rollout;
mod shard;
mod snapshot;
mod stat_cache;
mod timings;
mod tree_cache;
mod write;
pub mod yaml_tree;

use std::path::PathBuf;

use cli::{Cli, Command};
use error::{Error, ExitStatus};

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
    // The whole run after the process started: what the stages leave out.
    let _stage = timings::stage("run");
    exit_code(dispatch(Cli::parse_args()))
}

/// One arm per command; each returns `Result<ExitStatus, Error>`.
fn dispatch(cli: Cli) -> Result<ExitStatus, Error> {
    if let Command::Init { dir } = &cli.command {
        // init works on a folder that is not a platform repo yet.
        let dir = dir
            .clone()
            .or_else(|| cli.dir.clone())
            .unwrap_or_else(|| PathBuf::from("."));
        let settings = cli::Settings {
            root: dir.clone(),
            shown_root: dir.clone(),
            format: cli.format,
            color: false,
            quiet: cli.quiet,
        };
        return commands::init::run(&settings, &dir);
    }
    let mut settings = cli.settings().map_err(Error::refused)?;
    if matches!(cli.command, Command::Build { .. } | Command::Check { .. }) {
        // Located while a relative path to it still holds.
        let _ = file_stat::binary_path();
        settings.enter_root().map_err(|source| Error::ReadRepo {
            root: settings.shown_root.clone(),
            source,
        })?;
    }
    if settings.quiet || settings.format == cli::Format::Json {
        progress::silence();
    }
    if let Some(jobs) = cli.jobs {
        // Only fails when a pool already exists, which cannot happen here.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build_global();
    }
    match cli.command {
        Command::Build { no_cache, shard } => commands::build::run(&settings, cache(no_cache), shard),
        Command::Check { no_cache, shard } => commands::check::run(&settings, cache(no_cache), shard),
        Command::Validate { paths } => commands::validate::run(&settings, &paths),
        Command::Watch => commands::watch::run(&settings),
        Command::Affected { base, max_jobs, .. } => commands::affected::run(&settings, &base, max_jobs),
        Command::Diff { base, stat } => commands::diff::run(&settings, base.as_deref(), stat),
        Command::Explain { service, env, region } => {
            commands::explain::run(&settings, &service, env.as_deref(), region.as_deref())
        }
        Command::New(args) => commands::new::run(&settings, &args),
        Command::Versions { .. } => commands::versions::run(&settings),
        Command::Promote {
            service,
            to,
            from,
            force,
        } => commands::promote::run(&settings, &service, &to, from.as_deref(), force),
        Command::Rollback { service, env, to } => commands::rollback::run(&settings, &service, &env, to.as_deref()),
        Command::Flags { services, envs, .. } => commands::flags::run(&settings, &services, &envs),
        Command::Policy => commands::policy::run(&settings),
        Command::Preview {
            name,
            base,
            services,
            out,
        } => commands::preview::run(&settings, &name, &base, &services, &out),
        Command::Init { .. } => unreachable!("handled before the repo is looked for"),
    }
}

/// The one place a command's outcome becomes the process exit code.
fn exit_code(outcome: Result<ExitStatus, Error>) -> i32 {
    match outcome {
        Ok(status) => status.code(),
        Err(error) => {
            eprintln!("error: {error}");
            ExitStatus::Errors.code()
        }
    }
}
