//! The `ferry` binary: parses the command line and hands over to [`ferry_workers::cli`].

fn main() -> std::process::ExitCode {
    ferry_workers::cli::main()
}
