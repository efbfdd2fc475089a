//! `vnet demo --duration 1` as root: the summary line parses, both throughputs are positive, and
//! no namespace of the demo's is left behind: not after a normal run, not after SIGTERM, and what
//! a SIGKILLed run left behind is removed by the next run.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vnet_host::netns::{NetNs, require_root};

/// Parses `summary: offload on X.XX Gbit/s, off Y.YY Gbit/s, speedup Z.ZZx`.
fn parse_summary(line: &str) -> Option<(f64, f64, f64)> {
    let rest = line.strip_prefix("summary: offload on ")?;
    let (on, rest) = rest.split_once(" Gbit/s, off ")?;
    let (off, rest) = rest.split_once(" Gbit/s, speedup ")?;
    let speedup = rest.strip_suffix('x')?;
    Some((on.parse().ok()?, off.parse().ok()?, speedup.parse().ok()?))
}

/// The measured copies with offloads on in `copies per byte (...): offload on N (vnet's K...;
/// measured X.XX), off ...`.
fn measured_copies_on(line: &str) -> Option<f64> {
    let on = line.split("), off ").next()?;
    on.split("measured ").nth(1)?.parse().ok()
}

#[test]
fn summary_line_parses() {
    assert_eq!(
        parse_summary("summary: offload on 12.50 Gbit/s, off 2.50 Gbit/s, speedup 5.00x"),
        Some((12.5, 2.5, 5.0))
    );
    assert_eq!(parse_summary("summary: offload on x Gbit/s"), None);
    assert_eq!(
        measured_copies_on(
            "copies per byte (by construction): offload on 8 (vnet's 2: gro input, gro merge; \
             measured 2.00), off 6 (vnet's 0; measured 0.00)"
        ),
        Some(2.0)
    );
}

/// Demo runs one at a time: a run's start-up removes dead runs' leftovers, which one test here
/// makes on purpose and looks for.
static ONE_DEMO: Mutex<()> = Mutex::new(());

/// A demo test's start: `None` without root (skipped); else the kernel line printed and the
/// one-demo lock held for as long as the guard lives.
fn demo_test(test: &str) -> Option<MutexGuard<'static, ()>> {
    if !require_root(test) {
        return None;
    }
    let _ = writeln!(
        std::io::stderr(),
        "{test}: kernel {} (uname -r)",
        vnet_host::kernel::release()
    );
    Some(ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner()))
}

#[test]
fn demo_runs_and_cleans_up() {
    let Some(_one) = demo_test("demo_runs_and_cleans_up") else {
        return;
    };
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
    // The relay copies no payload of its own with offloads on (gso sends from iovecs, gro writes
    // slices of the receive buffers, G9): what it counted is zero.
    let copies = stdout
        .lines()
        .find(|l| l.starts_with("copies per byte"))
        .unwrap_or_else(|| panic!("no copies line in:\n{stdout}"));
    assert_eq!(measured_copies_on(copies), Some(0.0), "{copies}");

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

/// Starts `vnet demo` and returns it with the names of its two namespaces (from its first line),
/// once they exist.
fn start_demo(args: &[&str]) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vnet"))
        .arg("demo")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vnet demo");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .expect("read the demo's first line");
    let names: Vec<String> = first
        .split_whitespace()
        .filter(|w| w.starts_with("vnet-demo-"))
        .map(str::to_owned)
        .collect();
    assert_eq!(names.len(), 2, "no namespace names in {first:?}");
    (child, names)
}

fn existing(names: &[String]) -> Vec<String> {
    let all = NetNs::list("vnet-demo-").expect("list namespaces");
    names.iter().filter(|n| all.contains(n)).cloned().collect()
}

/// SIGTERM (what `timeout`, systemd and container runtimes send) cleans up like Ctrl-C.
#[test]
fn demo_sigterm_leaves_nothing_behind() {
    let Some(_one) = demo_test("demo_sigterm_leaves_nothing_behind") else {
        return;
    };
    let (mut child, names) = start_demo(&["--duration", "30"]);
    assert_eq!(
        existing(&names),
        names,
        "the namespaces exist while it runs"
    );
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the demo did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
    assert!(!status.success(), "an interrupted demo fails");
    assert!(
        stderr.contains("SIGTERM"),
        "stderr names the signal: {stderr}"
    );
    assert_eq!(
        existing(&names),
        Vec::<String>::new(),
        "left behind after SIGTERM"
    );
}

/// SIGKILL cannot be caught: the namespaces stay, and the next run removes them and says so.
#[test]
fn demo_removes_leftovers_of_a_dead_run() {
    let Some(_one) = demo_test("demo_removes_leftovers_of_a_dead_run") else {
        return;
    };
    let (mut child, names) = start_demo(&["--duration", "30"]);
    child.kill().unwrap();
    child.wait().unwrap();
    let left = existing(&names);
    // Delete them whatever happens below (a guard that ignores errors).
    struct Cleanup(Vec<String>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for name in &self.0 {
                let _ = Command::new("ip").args(["netns", "delete", name]).output();
            }
        }
    }
    let _cleanup = Cleanup(left.clone());
    assert_eq!(
        left, names,
        "SIGKILL left the namespaces behind, as it must"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_vnet"))
        .args(["demo", "--duration", "0.2", "--only", "on"])
        .output()
        .expect("run vnet demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "second run failed: {stderr}");
    for name in &names {
        assert!(
            stderr.contains(&format!("removed namespace {name}")),
            "no message about {name}: {stderr}"
        );
    }
    assert_eq!(existing(&names), Vec::<String>::new(), "still there");
}
