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

use args::Args;

const USAGE: &str = "\
usage: vnet <command> [options]

commands:
  demo    TCP through a user-space relay between two namespaces, offloads on vs off (root)
  relay   forward between two existing TUN devices over a UDP wire (root)

the oracle (hex in, one JSON object out per line; any language can diff itself against vnet):
  check     what a (virtio-net header, packet) frame asks for, or which rule rejects it
  segment   the packets a device puts on the wire for a frame (GSO, checksum completion)
  coalesce  what GRO makes of batches of packets
  csum      the Internet checksum of bytes
  inspect   one frame decoded for a person
  kernel    the running kernel's profile, probed (root): which rules check/segment/coalesce
            follow with --kernel auto

`vnet <command> --help` describes a command's options.";

fn main() -> ExitCode {
    let argv = match args::from_os(std::env::args_os().skip(1)) {
        Ok(argv) => argv,
        Err(err) => {
            errln!("vnet: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut argv = argv.into_iter();
    let command = argv.next();
    let args = Args::new(argv);
    let (result, usage) = match command.as_deref() {
        Some("demo") => (demo::main(args), demo::USAGE),
        Some("relay") => (relay::main(args), relay::USAGE),
        Some("check") => (oracle_cmd::check(args), oracle_cmd::CHECK_USAGE),
        Some("segment") => (oracle_cmd::segment(args), oracle_cmd::SEGMENT_USAGE),
        Some("coalesce") => (oracle_cmd::coalesce(args), oracle_cmd::COALESCE_USAGE),
        Some("csum") => (oracle_cmd::csum(args), oracle_cmd::CSUM_USAGE),
        Some("inspect") => (oracle_cmd::inspect(args), oracle_cmd::INSPECT_USAGE),
        Some("kernel") => (kernel::main(args), kernel::USAGE),
        Some("--help" | "-h" | "help") => (out::line(USAGE).map_err(Into::into), USAGE),
        Some(other) => {
            errln!("vnet: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            errln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<args::ArgError>() => {
            errln!("vnet: {err}\n\n{usage}");
            ExitCode::from(2)
        }
        Err(err) => match out::stdout_error(&*err) {
            Some(closed) if closed.closed() => ExitCode::from(out::CLOSED_PIPE_STATUS),
            Some(other) => {
                errln!("vnet: {other}");
                ExitCode::FAILURE
            }
            None => {
                errln!("vnet: {err}");
                ExitCode::FAILURE
            }
        },
    }
}
