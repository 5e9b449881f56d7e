// Resolving thousands of targets is allocation-heavy; mimalloc roughly
// halves what the system allocator costs here (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(stamp::run());
}
