//! The command line: clap definitions, then one step that turns raw flags
//! into settings every command shares.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::compile::Shard;

#[derive(Debug, Parser)]
#[command(
    name = "stamp",
    version,
    about = "Compile a platform repo's service catalog into GitOps-ready Kubernetes manifests"
)]
pub struct Cli {
    /// Repo root [default: the nearest folder holding `catalog/`]
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Threads to render with [default: all cores]
    #[arg(short = 'j', long = "jobs", global = true, value_name = "N")]
    pub jobs: Option<usize>,
    /// Output format, where the output is meant for machines (github-matrix: `affected` only)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring `generated/` and `.github/CODEOWNERS` up to date
    Build {
        /// Render every target, even those whose fingerprint says they are up to date
        #[arg(long)]
        no_cache: bool,
        /// Render only shard I of N (services split by a stable hash), e.g. `--shard 2/4`
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<Shard>,
    },
    /// Render in memory and compare with what is on disk; write nothing
    Check {
        /// Render every target instead of trusting up-to-date fingerprints
        #[arg(long)]
        no_cache: bool,
        /// Check only shard I of N (services split by a stable hash), e.g. `--shard 2/4`
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<Shard>,
    },
    /// Show what a build would change, or what changed since a git revision
    Diff {
        /// Compare with the output rendered from this git revision instead of `generated/`
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// One line per target instead of the full diff
        #[arg(long)]
        stat: bool,
    },
    /// List the targets whose output differs from git revision REV, with the approval tier
    Affected {
        /// The git revision to compare with, e.g. `HEAD~1` or `origin/main`
        #[arg(long, value_name = "REV")]
        base: String,
        /// The most jobs per GitHub matrix; larger sets print several, one per line
        #[arg(long, default_value_t = 256)]
        max_jobs: usize,
    },
    /// Build, then rebuild on every change to the inputs until Ctrl-C
    Watch,
    /// Validate every object under `generated/` against the Kubernetes schema
    Validate {
        /// Only the targets under these paths, e.g. `generated/web/prod/eu`
        paths: Vec<String>,
    },
    /// Print a target's resolved values and where each was set
    Explain {
        service: String,
        #[arg(long)]
        env: Option<String>,
        #[arg(long)]
        region: Option<String>,
    },
    /// Write a new service file that passes the catalog checks
    New(NewArgs),
    /// Scaffold a new platform repo with the built-ins and an example catalog
    Init {
        /// Where to create it [default: the current directory]
        dir: Option<PathBuf>,
    },
}

/// `stamp new`'s arguments.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The service name (a DNS-1123 label)
    pub service: String,
    #[arg(long)]
    pub profile: String,
    #[arg(long)]
    pub size: String,
    #[arg(long)]
    pub team: String,
    /// An environment to deploy to; repeat for several [default: all]
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// The image as `repository:tag` [default: the catalog's usual registry, tag 0.1.0]
    #[arg(long)]
    pub image: Option<String>,
    /// Cron schedule, for profiles whose archetype needs one
    #[arg(long)]
    pub schedule: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// What a GitHub Actions `strategy.matrix` takes (`affected` only)
    GithubMatrix,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// What every command needs, decided once from the flags and environment.
pub struct Settings {
    pub root: PathBuf,
    pub format: Format,
    pub color: bool,
    pub quiet: bool,
}

impl Cli {
    pub fn settings(&self) -> Result<Settings, String> {
        let root = match &self.dir {
            Some(dir) => dir.clone(),
            None => find_root(&std::env::current_dir().map_err(|e| e.to_string())?),
        };
        if !root.is_dir() {
            return Err(format!("`{}` is not a folder", root.display()));
        }
        if !root.join("catalog").is_dir() {
            return Err(format!(
                "`{}` is not a platform repo: it has no `catalog/` folder\nhint: `stamp init` scaffolds one",
                root.display()
            ));
        }
        let color = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
            }
        };
        Ok(Settings {
            root,
            format: self.format,
            color,
            quiet: self.quiet,
        })
    }
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((index, count)) if count >= 1 && (1..=count).contains(&index) => Ok(Shard { index, count }),
        _ => Err(format!("`{text}` is not a shard: use I/N with 1 <= I <= N, e.g. 2/4")),
    }
}

/// The nearest ancestor holding `catalog/`, else the start folder.
fn find_root(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|dir| dir.join("catalog").is_dir())
        .unwrap_or(start)
        .to_path_buf()
}
