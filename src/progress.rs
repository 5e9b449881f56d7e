//! Progress on stderr for long runs: shown only when stderr is a terminal
//! and the run has taken more than a second, so the pre-commit hook, CI logs
//! and piped output see nothing extra.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes quiet before it shows progress.
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Set by `-q` and `--format json`: no progress at all.
static SILENCED: AtomicBool = AtomicBool::new(false);

pub(crate) fn silence() {
    SILENCED.store(true, Ordering::Relaxed);
}

pub(crate) struct Progress {
    /// None when stderr is not a terminal.
    bar: Option<ProgressBar>,
    started: Instant,
    shown: AtomicBool,
}

impl Progress {
    /// Progress over `total` items, e.g. "rendering" targets.
    pub(crate) fn new(what: &'static str, total: usize) -> Progress {
        let show = std::io::stderr().is_terminal() && !SILENCED.load(Ordering::Relaxed);
        let bar = show.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template("{msg} {pos}/{len} targets [{bar:30}] {elapsed}") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what);
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            shown: AtomicBool::new(false),
        }
    }

    /// One item done; from any thread.
    pub(crate) fn inc(&self) {
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        if self.started.elapsed() > QUIET_FOR && !self.shown.swap(true, Ordering::Relaxed) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
