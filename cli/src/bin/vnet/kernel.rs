//! `vnet kernel`: the running kernel's profile, found by probing it (`vnet_host::kernel::probe`).

use std::error::Error;

use vnet_cli::oracle::{Fields, SCHEMA_VERSION};

use crate::out;

pub(crate) const ABOUT: &str = "\
Probes the running kernel (root: a throw-away namespace with two TUN devices) and prints one JSON
object: {\"v\":1,\"release\":\"6.18.44\",\"profile\":\"linux-6.18\"|null,\"facts\":{...}}. \"profile\" is
the named profile with exactly the facts measured, or null for a combination vnet has not named;
`--kernel auto` uses the facts either way. Each fact is a K row of spec/RULES.md.";

/// `vnet kernel`'s options.
#[derive(clap::Args, Debug)]
pub(crate) struct KernelOptions {
    /// Print the named profiles side by side instead (Markdown; no probe, no root)
    #[arg(long)]
    table: bool,
}

pub(crate) fn main(options: KernelOptions) -> Result<(), Box<dyn Error>> {
    if options.table {
        out::text(&vnet_host::kernel::profile_table())?;
        return Ok(());
    }
    // The probe's object, versioned like every answer of the program.
    let probed: Fields = serde_json::from_str(&vnet_host::kernel::probe()?.to_json())?;
    let mut answer = Fields::new();
    answer.insert("v".into(), SCHEMA_VERSION.into());
    answer.extend(probed);
    out::line(&serde_json::Value::Object(answer).to_string())?;
    Ok(())
}
