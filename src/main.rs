//! The `streetwatch` binary: the command line edge of the library. `anyhow` lives here
//! and nowhere else.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
