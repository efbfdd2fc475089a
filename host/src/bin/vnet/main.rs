//! `vnet`: the vnet-host command line. One module per subcommand; the relay's machinery is in
//! `tunnel` (pipelines, counters) and `steps` (core's gso and gro, the only packet logic).

mod args;
mod demo;
mod relay;
mod steps;
mod tunnel;

use std::process::ExitCode;

use args::Args;

const USAGE: &str = "\
usage: vnet <command> [options]

commands:
  demo    TCP through a user-space relay between two namespaces, offloads on vs off (root)
  relay   forward between two existing TUN devices over a UDP wire (root)

`vnet <command> --help` describes a command's options.";

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let command = argv.next();
    let args = Args::new(argv);
    let (result, usage) = match command.as_deref() {
        Some("demo") => (demo::main(args), demo::USAGE),
        Some("relay") => (relay::main(args), relay::USAGE),
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("vnet: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<args::ArgError>() => {
            eprintln!("vnet: {err}\n\n{usage}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("vnet: {err}");
            ExitCode::FAILURE
        }
    }
}
