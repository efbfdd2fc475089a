//! `vnet kernel`: the running kernel's profile, found by probing it (`vnet_host::kernel::probe`).

use std::error::Error;

use crate::args::Args;
use crate::out;

pub(crate) const USAGE: &str = "\
usage: vnet kernel [--table]

Probes the running kernel (root: a throw-away namespace with two TUN devices) and prints one JSON
object: {\"release\":\"6.18.44\",\"profile\":\"linux-6.18\"|null,\"facts\":{...}}. \"profile\" is the
named profile with exactly the facts measured, or null for a combination vnet has not named;
`--kernel auto` uses the facts either way. Each fact is a K row of spec/RULES.md.

--table prints the named profiles side by side instead (Markdown; no probe, no root).";

pub(crate) fn main(mut args: Args) -> Result<(), Box<dyn Error>> {
    if args.flag("--help") || args.flag("-h") {
        out::line(USAGE)?;
        return Ok(());
    }
    let table = args.flag("--table");
    args.finish()?;
    if table {
        out::text(&vnet_host::kernel::profile_table())?;
        return Ok(());
    }
    out::line(&vnet_host::kernel::probe()?.to_json())?;
    Ok(())
}
