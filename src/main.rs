//! The `livejit` binary: everything lives in the `livejit-repl` library.

fn main() {
    std::process::exit(livejit_repl::main());
}
