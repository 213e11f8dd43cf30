//! `chaos-admin`: create, list, enable, disable and delete chaos actions, and run Chaos
//! Toolkit experiments. A thin front end over the `chaos_admin_cli` library.

fn main() -> std::process::ExitCode {
    chaos_admin_cli::cli::main()
}
