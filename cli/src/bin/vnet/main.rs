//! `vnet`: the command line. One module per subcommand (the oracle's five share `oracle_cmd`);
//! the relay itself is `vnet_host::relay` (pipelines, policy, counters), the oracle's answers
//! `vnet_cli::oracle`.

/// `eprintln!` that never panics: stderr that cannot be written is no reason to stop.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that never panics (see `errln!`).
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` into `out::line`: a `Result` whose error ends the program (see `out`).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(&format!($($arg)*))
    };
}

mod args;
mod demo;
mod kernel;
mod oracle_cmd;
mod out;
mod relay;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The command line (clap). Each subcommand's options are its module's `Options`.
#[derive(Parser, Debug)]
#[command(
    name = "vnet",
    version,
    about = "virtio-net offloads: a user-space GSO/GRO relay, and an oracle any implementation \
             can diff itself against",
    long_about = ABOUT,
    subcommand_help_heading = "Commands",
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const ABOUT: &str = "\
virtio-net offloads: a user-space GSO/GRO relay, and an oracle any implementation can diff
itself against. The oracle's commands (check, segment, coalesce, csum) read hex and answer one
JSON object per line, each starting with its schema version, \"v\":1 (cli/ORACLE.md).";

#[derive(Subcommand, Debug)]
enum Command {
    /// TCP through a user-space relay between two namespaces, offloads on vs off (root)
    #[command(long_about = demo::ABOUT)]
    Demo(demo::DemoOptions),
    /// Forward between two existing TUN devices over a UDP wire (root)
    #[command(long_about = relay::ABOUT)]
    Relay(relay::RelayOptions),
    /// What a (virtio-net header, packet) frame asks for, or which rule rejects it
    #[command(long_about = oracle_cmd::CHECK_ABOUT)]
    Check(oracle_cmd::FrameOptions),
    /// The packets a device puts on the wire for a frame (GSO, checksum completion)
    #[command(long_about = oracle_cmd::SEGMENT_ABOUT)]
    Segment(oracle_cmd::SegmentOptions),
    /// What GRO makes of batches of packets
    #[command(long_about = oracle_cmd::COALESCE_ABOUT)]
    Coalesce(oracle_cmd::CoalesceOptions),
    /// The Internet checksum of bytes
    #[command(long_about = oracle_cmd::CSUM_ABOUT)]
    Csum,
    /// One frame decoded for a person
    #[command(long_about = oracle_cmd::INSPECT_ABOUT)]
    Inspect(oracle_cmd::InspectOptions),
    /// The running kernel's profile, probed (root): which rules --kernel auto follows
    #[command(long_about = kernel::ABOUT)]
    Kernel(kernel::KernelOptions),
}

fn main() -> ExitCode {
    let argv = match args::from_os(std::env::args_os().skip(1)) {
        Ok(argv) => argv,
        Err(err) => {
            errln!("vnet: {err}");
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::try_parse_from(std::iter::once("vnet".to_owned()).chain(argv)) {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    let result = match cli.command {
        Command::Demo(o) => demo::main(o),
        Command::Relay(o) => relay::main(o),
        Command::Check(o) => oracle_cmd::check(o),
        Command::Segment(o) => oracle_cmd::segment(o),
        Command::Coalesce(o) => oracle_cmd::coalesce(o),
        Command::Csum => oracle_cmd::csum(),
        Command::Inspect(o) => oracle_cmd::inspect(o),
        Command::Kernel(o) => kernel::main(o),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<args::ArgError>() => {
            errln!("vnet: {err}\n\n(`vnet <command> --help` lists the options)");
            ExitCode::from(2)
        }
        Err(err) => stdout_exit(&*err),
    }
}

/// `--help` and `--version` go to stdout through `out` (O6); a usage error to stderr, status 2.
fn clap_exit(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let mut text = err.render().to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            match out::text(&text) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => stdout_exit(&e),
            }
        }
        _ => {
            errln!("{}", err.render());
            ExitCode::from(2)
        }
    }
}

/// The status of a failed run: 141 when stdout was closed (O6), else 1 with the error.
fn stdout_exit(err: &(dyn std::error::Error + 'static)) -> ExitCode {
    match out::stdout_error(err) {
        Some(closed) if closed.closed() => ExitCode::from(out::CLOSED_PIPE_STATUS),
        Some(other) => {
            errln!("vnet: {other}");
            ExitCode::FAILURE
        }
        None => {
            errln!("vnet: {err}");
            ExitCode::FAILURE
        }
    }
}
