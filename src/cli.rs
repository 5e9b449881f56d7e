//! The command line: clap definitions, then one step that turns raw flags
//! into settings every command shares.

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::builder::PossibleValue;
use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::shard::Shard;

/// Every global flag, taken before or after the subcommand; listed in full in
/// `stamp --help` only, and by name under each subcommand's own options.
#[derive(Debug, Parser)]
#[command(
    name = "stamp",
    version = env!("STAMP_LONG_VERSION"),
    about = "Compile a platform repo's service catalog into GitOps-ready Kubernetes manifests",
    after_help = "Run `stamp <COMMAND> --help` for a command's own options."
)]
pub struct Cli {
    /// Repo root [default: the nearest folder holding `catalog/`]
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Threads to render with [default: all cores]
    #[arg(short = 'j', long = "jobs", global = true, value_name = "N")]
    pub jobs: Option<usize>,
    /// Output format: `json` for tools (`affected` also takes `github-matrix`)
    #[arg(long, global = true, value_name = "FORMAT", value_parser = TextOrJson, default_value = "text")]
    pub format: Format,
    /// When to color messages (`NO_COLOR` turns `auto` off)
    #[arg(long, global = true, value_name = "WHEN", value_enum, default_value_t = ColorChoice::Auto)]
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
    /// Render in memory and compare with what is committed; write nothing (exit 1 on drift)
    Check {
        /// Render and compare every target, even those this machine verified before
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
        #[arg(long, value_name = "N", default_value_t = 256)]
        max_jobs: usize,
        /// Output format; `github-matrix` prints what a GitHub Actions `strategy.matrix` takes,
        /// `markdown` the pull-request comment
        // The same id as the global `--format`, so clap keeps this one here and
        // hands its value up to `Cli::format`.
        #[arg(long, value_name = "FORMAT", default_value = "text",
              value_parser = OneOf("affected", &[Format::Text, Format::Json, Format::GithubMatrix, Format::Markdown]))]
        format: Format,
    },
    /// Build, then rebuild on every change to the inputs until Ctrl-C
    Watch,
    /// Validate every object under `generated/` against the Kubernetes schema
    Validate {
        /// Only the targets under these paths, e.g. `generated/web/prod/eu`
        #[arg(value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Print a target's resolved values and where each was set
    Explain {
        /// The service, as named in `catalog/services/<SERVICE>.yaml`
        service: String,
        /// Only this environment's targets [default: every environment]
        #[arg(long, value_name = "ENV")]
        env: Option<String>,
        /// Only this region's targets [default: every region]
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
    },
    /// Write a new service file that passes the catalog checks
    New(NewArgs),
    /// List the built-in policy rules, `policies/*.rego` and the exceptions in force
    Policy,
    /// Render a pull request's preview: the services changed since REV, in the preview environment
    Preview {
        /// The preview's name, `pr-<number>`; namespaces are `<NAME>-<service>`
        name: String,
        /// The git revision the pull request branches from, e.g. `origin/main`
        #[arg(long, value_name = "REV")]
        base: String,
        /// Preview this service too, changed or not (repeatable)
        #[arg(long = "service", value_name = "SERVICE")]
        services: Vec<String>,
        /// The folder to replace with the preview; never `generated/`
        #[arg(long, value_name = "DIR", default_value = "preview")]
        out: PathBuf,
    },
    /// Scaffold a new platform repo: built-ins, an example catalog, CI and pre-commit
    Init {
        /// Where to create it [default: `-C DIR`, else the current directory]
        dir: Option<PathBuf>,
    },
    /// The image version of every service in every environment, in promotion order
    Versions {
        /// Output format: `text`, `json` (with who set each version and when) or `markdown`
        // The same id as the global `--format`, as `affected` does.
        #[arg(long, value_name = "FORMAT", value_parser = OneOf("versions", &[Format::Text, Format::Json, Format::Markdown]), default_value = "text")]
        format: Format,
    },
    /// Copy a service's image to an environment from the one before it, then build
    Promote {
        /// The service, as named in `catalog/services/<SERVICE>.yaml`
        service: String,
        /// The environment to promote to
        #[arg(long, value_name = "ENV")]
        to: String,
        /// The environment to copy from [default: the service's previous one in promotion order]
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        /// Promote even when the version has not soaked, or was rolled back
        #[arg(long)]
        force: bool,
    },
    /// Set a service's image in an environment back to an earlier version, then build
    Rollback {
        /// The service, as named in `catalog/services/<SERVICE>.yaml`
        service: String,
        /// The environment to roll back
        #[arg(long, value_name = "ENV")]
        env: String,
        /// The git revision whose version to go back to [default: the one before the current]
        #[arg(long, value_name = "REV")]
        to: Option<String>,
    },
    /// Feature flags per environment: on, a percentage, off, or `-` where absent
    Flags {
        /// Only this service; repeat for several [default: every service]
        #[arg(long = "service", value_name = "SERVICE")]
        services: Vec<String>,
        /// Only this environment; repeat for several [default: every environment]
        #[arg(long = "env", value_name = "ENV")]
        envs: Vec<String>,
        /// Output format: `text`, `json` or `markdown` (a table for a pull request or wiki)
        // The same id as the global `--format`, as `affected` does.
        #[arg(long, value_name = "FORMAT", value_parser = OneOf("flags", &[Format::Text, Format::Json, Format::Markdown]), default_value = "text")]
        format: Format,
    },
}

/// `stamp new`'s arguments.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The service name (a DNS-1123 label)
    pub service: String,
    /// A profile of `catalog/profiles.yaml`
    #[arg(long)]
    pub profile: String,
    /// A size of `catalog/sizes.yaml`
    #[arg(long)]
    pub size: String,
    /// The owning team, a key of `catalog/teams.yaml`
    #[arg(long)]
    pub team: String,
    /// An environment to deploy to; repeat for several [default: all]
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// The image as `repository:tag` [default: the catalog's usual registry, tag 0.1.0]
    #[arg(long)]
    pub image: Option<String>,
    /// Cron schedule, for profiles whose archetype runs on one [default: daily at 03:00]
    #[arg(long)]
    pub schedule: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people
    Text,
    /// One JSON document on stdout, for tools
    Json,
    /// What a GitHub Actions `strategy.matrix` takes, one matrix per line
    GithubMatrix,
    /// Markdown (`versions`, `flags`, `affected`)
    #[value(skip)]
    Markdown,
}

/// The global `--format`: `text` or `json`. `github-matrix` is `affected`'s
/// alone, so elsewhere it is refused with a word on where it belongs.
#[derive(Clone)]
struct TextOrJson;

impl clap::builder::TypedValueParser for TextOrJson {
    type Value = Format;

    fn parse_ref(&self, cmd: &clap::Command, _: Option<&clap::Arg>, value: &OsStr) -> Result<Format, clap::Error> {
        match value.to_str() {
            Some("text") => Ok(Format::Text),
            Some("json") => Ok(Format::Json),
            Some("github-matrix") => Err(cmd.clone().error(
                ErrorKind::InvalidValue,
                "`--format github-matrix` is only for `stamp affected`\n\
                 hint: `stamp affected --base REV --format github-matrix`",
            )),
            _ => Err(cmd.clone().error(
                ErrorKind::InvalidValue,
                format!(
                    "`--format {}` is not a format: use `text` or `json`",
                    value.to_string_lossy()
                ),
            )),
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            [Format::Text, Format::Json]
                .into_iter()
                .filter_map(|f| f.to_possible_value()),
        ))
    }
}

/// A command's own `--format`: the formats it takes, and its name for the
/// message that lists them (`versions`, `flags` and `affected`).
#[derive(Clone)]
struct OneOf(&'static str, &'static [Format]);

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::GithubMatrix => "github-matrix",
            Format::Markdown => "markdown",
        }
    }
}

impl clap::builder::TypedValueParser for OneOf {
    type Value = Format;

    fn parse_ref(&self, cmd: &clap::Command, _: Option<&clap::Arg>, value: &OsStr) -> Result<Format, clap::Error> {
        if let Some(format) = self.1.iter().find(|f| value.to_str() == Some(f.name())) {
            return Ok(*format);
        }
        let names: Vec<String> = self.1.iter().map(|f| format!("`{}`", f.name())).collect();
        let (last, rest) = names.split_last().expect("formats listed");
        Err(cmd.clone().error(
            ErrorKind::InvalidValue,
            format!(
                "`--format {}` is not a format of `stamp {}`: use {} or {last}",
                value.to_string_lossy(),
                self.0,
                rest.join(", ")
            ),
        ))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.1.iter().map(|f| {
            f.to_possible_value()
                .unwrap_or_else(|| PossibleValue::new(f.name()).help("Markdown, for a pull request or a wiki"))
        })))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl Cli {
    /// The clap command: each subcommand takes the global flags (hidden from
    /// its help, which names them once at the end instead of repeating them).
    pub fn command_line() -> clap::Command {
        let top = <Cli as CommandFactory>::command();
        let globals: Vec<clap::Arg> = top.get_arguments().filter(|a| a.is_global_set()).cloned().collect();
        top.mut_subcommands(|sub| {
            let mut named = Vec::new();
            let mut sub = sub;
            for arg in &globals {
                // A subcommand's own arg of the same id (affected's `--format`) wins.
                if sub.get_arguments().all(|own| own.get_id() != arg.get_id()) {
                    named.push(flag_name(arg));
                    sub = sub.arg(arg.clone().hide(true));
                }
            }
            sub.after_help(format!("Global options: {} (see `stamp --help`)", named.join(", ")))
        })
    }

    /// Parses the process arguments, exiting with clap's message on a mistake.
    pub fn parse_args() -> Cli {
        let mut command = Cli::command_line();
        let matches = command.get_matches_mut();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit())
    }
}

/// `-C <DIR>`, `--color <WHEN>`, `-q`: how a global flag is written.
fn flag_name(arg: &clap::Arg) -> String {
    let name = match (arg.get_short(), arg.get_long()) {
        (Some(short), _) => format!("-{short}"),
        (None, Some(long)) => format!("--{long}"),
        (None, None) => arg.get_id().to_string(),
    };
    match arg.get_value_names() {
        Some([value, ..]) if arg.get_action().takes_values() => format!("{name} <{value}>"),
        _ => name,
    }
}

/// What every command needs, decided once from the flags and environment.
pub struct Settings {
    pub root: PathBuf,
    /// The root as the user named it (`-C DIR`), for messages: `root` is
    /// `.` once a command has entered it (`enter_root`).
    pub shown_root: PathBuf,
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
            shown_root: root.clone(),
            root,
            format: self.format,
            color,
            quiet: self.quiet,
        })
    }
}

impl Settings {
    /// Makes the root the working folder, for commands that take no path
    /// argument: every path stamp then stats or opens is relative and a few
    /// components shorter, and the kernel walks each component of each
    /// path (about 0.8 µs per `statx` of a 1,000-service repo's outputs).
    pub fn enter_root(&mut self) -> std::io::Result<()> {
        if self.root != Path::new(".") {
            std::env::set_current_dir(&self.root)?;
            self.root = PathBuf::from(".");
        }
        Ok(())
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

/// The nearest ancestor holding `catalog/`, else the start folder. Found at
/// the start folder, it is `.`: every path stamp stats is then a few
/// components shorter (the kernel walks each component of each path).
fn find_root(start: &Path) -> PathBuf {
    match start.ancestors().find(|dir| dir.join("catalog").is_dir()) {
        Some(dir) if dir == start => PathBuf::from("."),
        Some(dir) => dir.to_path_buf(),
        None => start.to_path_buf(),
    }
}
