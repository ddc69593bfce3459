//! `openclaw`: the whole program is the library; this only turns its result into an exit code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(openclaw::cli::main())
}
