//! Throw-away network namespaces for tests and the demo.
//!
//! Behind the feature `testkit`: test machinery for this crate's tests, the `vnet` program and
//! `.ci/kernel-suite`, not part of the library's API or its semver promise.
//!
//! A [`NetNs`] is a uniquely named namespace (`ip netns add vnet-test-<pid>-<n>`) that is deleted
//! when the guard drops, even during a panic. Code runs inside it on a scoped thread that entered
//! it with `setns`, so the rest of the process (and other tests running in parallel) stays in its
//! own namespace. Devices opened there live there; their fds can be used from any thread.
//!
//! Addresses in tests and demos come from the documentation ranges only: 192.0.2.0/24,
//! 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use crate::link::{self, Link};
use crate::sys;

/// Where `ip netns add` mounts namespaces.
const NETNS_DIR: &str = "/var/run/netns";

/// A lock file a process holds while it owns namespaces: whoever finds the file unlocked knows
/// the owner is gone (the kernel releases the lock of a killed process, SIGKILL included), even
/// when its PID has been reused or lives in another PID namespace. The file is removed on drop.
#[derive(Debug)]
pub struct OwnerLock {
    file: File,
    path: std::path::PathBuf,
}

impl OwnerLock {
    /// Creates (or opens) `path`, its directory too, and takes the lock; an error if another
    /// process holds it.
    pub fn acquire(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        if !sys::try_lock_exclusive(file.as_fd())? {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by a live process", path.display()),
            ));
        }
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// Whether a live process holds the lock at `path`: `None` if there is no such file.
    pub fn is_held(path: &Path) -> io::Result<Option<bool>> {
        let file = match std::fs::OpenOptions::new().write(true).open(path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        // Taking the lock succeeds only if nobody holds it; it is released when `file` closes.
        Ok(Some(!sys::try_lock_exclusive(file.as_fd())?))
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        // Removed while still locked, so nobody takes an unlocked file for a dead owner's.
        let _ = std::fs::remove_file(&self.path);
        let _ = &self.file;
    }
}

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates `vnet-test-<pid>-<n>` (unique within the process, and across processes by pid).
    pub fn new() -> io::Result<Self> {
        Self::with_prefix("vnet-test")
    }

    /// Creates `<prefix>-<pid>-<n>`, e.g. `vnet-demo-4242-0`: a prefix lets a program (and its
    /// tests) find what it created, see [`NetNs::list`].
    pub fn with_prefix(prefix: &str) -> io::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self::create(&format!("{prefix}-{}-{n}", std::process::id()))
    }

    /// Creates the namespace `name` exactly (an error if it exists), loopback up. The caller
    /// makes the name unique.
    pub fn create(name: &str) -> io::Result<Self> {
        run_ip(&["netns", "add", name])?;
        let ns = Self {
            name: name.to_owned(),
        };
        // Loopback is down in a fresh namespace; most tests want it.
        ns.link_up("lo")?;
        Ok(ns)
    }

    /// Deletes the namespace `name` (`ip netns delete`), e.g. a leftover of a process that died
    /// without cleaning up; its devices go with it.
    pub fn delete(name: &str) -> io::Result<()> {
        run_ip(&["netns", "delete", name])
    }

    /// The names of the named namespaces that exist now (`/var/run/netns`), starting with
    /// `prefix`.
    pub fn list(prefix: &str) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(NETNS_DIR) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other?,
        };
        let mut names = Vec::new();
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The namespace's name (for `ip -n NAME ...`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on a thread inside the namespace and returns its result. A panic in `f` is
    /// propagated to the caller (after which the guard still deletes the namespace).
    pub fn run<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        let ns_file = File::open(Path::new(NETNS_DIR).join(&self.name))?;
        thread::scope(|scope| {
            // A thread that cannot start is an error, not a panic.
            let handle = thread::Builder::new().spawn_scoped(scope, move || {
                sys::setns_net(ns_file.as_fd())?;
                drop(ns_file);
                Ok(f())
            })?;
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Opens a TUN/TAP device inside the namespace; the device stays there when the fd returns.
    pub fn open(&self, options: &crate::Options) -> io::Result<crate::Device> {
        Ok(self.run(|| options.open())??)
    }

    /// `ip -n NAME <args>`; a non-zero exit is an error carrying ip's stderr.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run_ip(&full)
    }

    /// `ip netns exec NAME tc <args>`; a non-zero exit is an error carrying tc's stderr.
    pub fn tc(&self, args: &[&str]) -> io::Result<()> {
        let mut full = vec!["netns", "exec", &self.name, "tc"];
        full.extend_from_slice(args);
        run_ip(&full)
    }

    /// Brings `dev` up inside the namespace ([`crate::link::set_up`], rtnetlink).
    pub fn link_up(&self, dev: &str) -> io::Result<()> {
        self.run(|| link::set_up(Link::Name(dev), true))?
    }

    /// Brings `dev` up for super-packets: MTU 65535, so the MTU never limits a test (GSO cuts at
    /// gso_size, not at the MTU), and a queue of 4096, so every segment of one super-packet fits.
    pub fn link_up_for_gso(&self, dev: &str) -> io::Result<()> {
        self.ip(&[
            "link",
            "set",
            dev,
            "mtu",
            "65535",
            "txqueuelen",
            "4096",
            "up",
        ])
    }

    /// Adds `CIDR` to `dev` inside the namespace ([`crate::link::add_address`], rtnetlink), e.g.
    /// `addr_add("tun0", "192.0.2.1/24")`; a CIDR that does not parse is `InvalidInput`.
    pub fn addr_add(&self, dev: &str, cidr: &str) -> io::Result<()> {
        let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("not a CIDR: {cidr}"));
        let (addr, prefix) = cidr.split_once('/').ok_or_else(bad)?;
        let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        self.run(|| link::add_address(Link::Name(dev), addr, prefix))?
    }

    /// Writes `value` to `/proc/sys/<key>` (e.g. `net/ipv4/ip_forward`) inside the namespace.
    /// `/proc/sys/net` is resolved by the network namespace of the thread that opens it.
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let path = Path::new("/proc/sys").join(key);
        self.run(|| std::fs::write(&path, value))?
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }

    /// Makes the namespace an IPv4 router that forwards between its devices whatever the
    /// source: forwarding on, reverse-path filtering and ICMP redirects off (for devices now and
    /// to come).
    pub fn forward_ipv4(&self) -> io::Result<()> {
        self.sysctl("net/ipv4/ip_forward", "1")?;
        for conf in ["all", "default"] {
            self.sysctl(&format!("net/ipv4/conf/{conf}/rp_filter"), "0")?;
            self.sysctl(&format!("net/ipv4/conf/{conf}/send_redirects"), "0")?;
        }
        Ok(())
    }

    /// Turns IPv6 off in the namespace, for its devices now and to come: IPv6 would put router
    /// solicitations and MLD reports on every device, among the packets a test reads or counts.
    pub fn disable_ipv6(&self) -> io::Result<()> {
        for conf in ["all", "default"] {
            self.sysctl(&format!("net/ipv6/conf/{conf}/disable_ipv6"), "1")?;
        }
        Ok(())
    }

    /// Writes `value` to a sysfs file of the namespace (e.g.
    /// `/sys/class/net/tun0/gro_flush_timeout`). sysfs shows the devices of the namespace that
    /// mounted it, so this runs `ip netns exec`, which mounts a fresh sysfs for the namespace.
    pub fn write_sysfs(&self, path: &str, value: &str) -> io::Result<()> {
        run_ip(&[
            "netns",
            "exec",
            &self.name,
            "sh",
            "-c",
            "printf %s \"$1\" > \"$2\"",
            "sh",
            value,
            path,
        ])
    }

    /// The interface index of `dev` inside the namespace.
    pub fn if_index(&self, dev: &str) -> io::Result<u32> {
        self.run(|| sys::if_nametoindex(dev))?
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(err) = run_ip(&["netns", "delete", &self.name]) {
            // Written with writeln!, not eprintln!, which panics when stderr is closed.
            let _ = writeln!(
                io::stderr(),
                "warning: could not delete network namespace {}: {err}",
                self.name
            );
        }
    }
}

fn run_ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether privileged tests can run here: root (for `ip netns add` and new TUN devices) and
/// `/dev/net/tun` present. If not, prints a loud `SKIPPED: <test>: <why>` to stderr and returns
/// false, so the test returns early; but when `CI` is set, panics instead, because CI runs as
/// root and a skipped test there would hide a failure.
pub fn require_root(test: &str) -> bool {
    let why = if !sys::is_root() {
        Some("not running as root (needs CAP_NET_ADMIN for ip netns and TUNSETIFF)")
    } else if !Path::new(sys::TUN_PATH).exists() {
        Some("/dev/net/tun is missing")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) if std::env::var_os("CI").is_some() => {
            panic!("{test}: {why}, and CI is set: privileged tests must run in CI")
        }
        Some(why) => {
            // Written to the stderr handle, not with eprintln!, which the test harness captures
            // and hides for passing tests: a skip must be seen.
            let _ = writeln!(io::stderr(), "SKIPPED: {test}: {why}");
            false
        }
    }
}

/// Opens a TUN device attached with IFF_TUN | IFF_NO_PI but *without* IFF_VNET_HDR, as a runtime
/// that knows nothing of vnet headers would pass it. A fixture for [`crate::Device::from_fd`],
/// which must refuse it.
pub fn open_tun_without_vnet_hdr(name: &str) -> io::Result<OwnedFd> {
    let file = sys::open_tun()?;
    let mut req = sys::ifreq(name, libc::IFF_TUN | libc::IFF_NO_PI);
    sys::tunsetiff(file.as_fd(), &mut req)?;
    Ok(file.into())
}

/// Sends a whole IPv4 packet (header included, as built by the caller) from a raw socket of the
/// calling thread's network namespace to `dst`: a fixture to forge ICMP errors and datagrams
/// with any source, as an attacker on the path would. Run it inside a namespace with
/// [`NetNs::run`]. Needs CAP_NET_RAW.
pub fn send_raw_ipv4(packet: &[u8], dst: std::net::Ipv4Addr) -> io::Result<()> {
    sys::send_raw_ipv4(packet, dst)
}
