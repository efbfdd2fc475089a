//! `vnet`: the vnet-host command line. One module per subcommand (the oracle's five share
//! `oracle_cmd`); the relay's machinery is in `tunnel` (pipelines, counters); its packet steps are
//! vnet-host's `batch` (core's gso and gro).

mod args;
mod demo;
mod kernel;
mod oracle_cmd;
mod policy;
mod relay;
mod tunnel;

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
    let mut argv = std::env::args().skip(1);
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
