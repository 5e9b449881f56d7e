//! One file per subcommand, each a `run` returning `Result<ExitStatus, Error>`
//! that `lib::run` maps to the exit code.

pub(crate) mod affected;
pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod explain;
pub(crate) mod flags;
pub(crate) mod init;
pub(crate) mod new;
pub(crate) mod noop;
pub(crate) mod policy;
pub(crate) mod preview;
pub(crate) mod promote;
pub(crate) mod rollback;
pub(crate) mod session;
pub(crate) mod validate;
pub(crate) mod versions;
pub(crate) mod watch;
