//! What the allocator does with freed memory: kept for reuse in a short run,
//! given back to the OS in a long one.
//!
//! A pre-commit run lasts well under a second: giving freed memory back (an
//! `madvise` per span, 200 of them in a one-service edit at 1,000 services,
//! and page faults when it is reused) only costs it time. A run that renders
//! thousands of targets frees its resolved values and much of its output
//! text while it still allocates; there a few thousand `madvise` calls are
//! noise, and the peak is lower (docs/BENCHMARKS.md). mimalloc 2 fixes
//! whether a segment may give memory back when it maps the segment, so the
//! switch is made as early as a run can tell it is large. `watch` keeps the
//! setting of its largest rebuild.

use std::sync::atomic::{AtomicBool, Ordering};

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3); libmimalloc-sys
/// names no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A run that resolves at least this many targets gives freed memory back.
pub(crate) const LARGE_RUN_TARGETS: usize = 2_000;

/// A run that resolves every service gives freed memory back from the start
/// when there are at least this many.
pub(crate) const LARGE_RUN_SERVICES: usize = 500;

/// Whether freed memory is given back (`return_freed_memory`).
static RETURNING: AtomicBool = AtomicBool::new(false);

/// Never gives freed memory back (the setting at the process's start).
pub fn keep_freed_memory() {
    RETURNING.store(false, Ordering::Relaxed);
    set_purge_delay(-1);
}

/// Gives fully freed pages back to the OS at once, from segments mapped
/// from now on.
pub(crate) fn return_freed_memory() {
    if !RETURNING.swap(true, Ordering::Relaxed) {
        set_purge_delay(0);
    }
}

/// Has every thread take back what other threads freed of its memory, so
/// that freed pages are given back now rather than when it next allocates.
/// Memory one thread frees for another is only queued for it: a build's
/// output text, freed in parallel, otherwise stayed resident while the
/// local caches were saved.
/// Only in a large run: a small one gives nothing back.
pub(crate) fn collect_freed() {
    if !RETURNING.load(Ordering::Relaxed) {
        return;
    }
    let collect = || {
        // SAFETY: mi_collect takes no pointer; it tidies the calling
        // thread's heap and the process's abandoned segments, under
        // mimalloc's own locks.
        unsafe { libmimalloc_sys::mi_collect(false) }
    };
    rayon::broadcast(|_| collect());
    collect();
}

fn set_purge_delay(milliseconds: std::ffi::c_long) {
    // SAFETY: mi_option_set takes any value for this option. Another thread
    // may read the option meanwhile: mimalloc reads it as one machine word,
    // and either value is a correct setting. Without mimalloc as the global
    // allocator (unit tests) the option is set and never read.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, milliseconds) };
}
