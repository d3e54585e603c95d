//! The `krunner` executable; everything is in the library ([`krunner::main`]).

fn main() -> std::process::ExitCode {
    krunner::main()
}
