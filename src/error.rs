//! Failures that stop a command before it can report diagnostics: the repo
//! cannot be read, locked or written. Problems a user fixes in the catalog
//! are `Diagnostic`s instead; `lib::run` turns either into the exit code once.

use std::fmt;
use std::path::PathBuf;

/// How a command ended, as SPEC §3 maps it to the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    Ok,
    /// `check`: the committed output differs from what the catalog renders.
    Drift,
    /// Diagnostics were reported.
    Errors,
}

impl ExitStatus {
    pub(crate) fn code(self) -> i32 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Drift => 1,
            ExitStatus::Errors => 2,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Error {
    ReadRepo { root: PathBuf, source: std::io::Error },
    Lock { file: &'static str, source: std::io::Error },
    WriteOutput { source: std::io::Error },
    ReadGenerated { source: std::io::Error },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ReadRepo { root, source } => write!(f, "cannot read the repo at `{}`: {source}", root.display()),
            Error::Lock { file, source } => write!(f, "cannot lock `{file}`: {source}"),
            Error::WriteOutput { source } => write!(f, "cannot write the output: {source}"),
            Error::ReadGenerated { source } => write!(f, "cannot read `generated/`: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::ReadRepo { source, .. }
            | Error::Lock { source, .. }
            | Error::WriteOutput { source }
            | Error::ReadGenerated { source } => Some(source),
        }
    }
}
