//! `vnet demo --duration 1` as root: the summary line parses, both throughputs are positive, and
//! no namespace of the demo's is left behind.

use std::process::Command;

use vnet_host::netns::{NetNs, require_root};

/// Parses `summary: offload on X.XX Gbit/s, off Y.YY Gbit/s, speedup Z.ZZx`.
fn parse_summary(line: &str) -> Option<(f64, f64, f64)> {
    let rest = line.strip_prefix("summary: offload on ")?;
    let (on, rest) = rest.split_once(" Gbit/s, off ")?;
    let (off, rest) = rest.split_once(" Gbit/s, speedup ")?;
    let speedup = rest.strip_suffix('x')?;
    Some((on.parse().ok()?, off.parse().ok()?, speedup.parse().ok()?))
}

#[test]
fn test_parse_summary() {
    assert_eq!(
        parse_summary("summary: offload on 12.50 Gbit/s, off 2.50 Gbit/s, speedup 5.00x"),
        Some((12.5, 2.5, 5.0))
    );
    assert_eq!(parse_summary("summary: offload on x Gbit/s"), None);
}

#[test]
fn test_demo_runs_and_cleans_up() {
    if !require_root("test_demo_runs_and_cleans_up") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vnet"))
        .args(["demo", "--duration", "1"])
        .output()
        .expect("run vnet demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "vnet demo failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    let (on, off, speedup) =
        parse_summary(last).unwrap_or_else(|| panic!("last line is not the summary: {last:?}"));
    assert!(on > 0.0 && off > 0.0, "{last}");
    assert!(speedup > 0.0, "{last}");

    // The child's namespaces are named vnet-demo-<its pid>-<n>; none may remain.
    let prefix = format!("vnet-demo-{}-", out_pid(&stdout));
    let left = NetNs::list(&prefix).expect("list namespaces");
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The pid in the first line's namespace names (`namespaces vnet-demo-<pid>-0 (A)`).
fn out_pid(stdout: &str) -> String {
    let first = stdout.lines().next().unwrap_or_default();
    first
        .split("vnet-demo-")
        .nth(1)
        .and_then(|rest| rest.split('-').next())
        .unwrap_or_else(|| panic!("no namespace name in {first:?}"))
        .to_owned()
}
