//! Stage timings on stderr when `STAMP_TIMINGS` is set: where a run's time goes.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("STAMP_TIMINGS").is_some())
}

/// Prints how long the stage took when dropped.
pub struct Stage {
    name: &'static str,
    start: Instant,
}

pub fn stage(name: &'static str) -> Stage {
    Stage {
        name,
        start: Instant::now(),
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if enabled() {
            eprintln!("timing: {:<12} {:>8.1?}", self.name, self.start.elapsed());
        }
    }
}
