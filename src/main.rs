fn main() {
    std::process::exit(stamp::run());
}
