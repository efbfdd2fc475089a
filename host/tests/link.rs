//! `vnet_host::link` on real devices (T21): MTU, up/down and addresses set by rtnetlink, read back
//! three ways: the interface ioctls, `getifaddrs`, and `ip` itself (the tests may use the binary;
//! the library does not). Each test works in its own namespace, deleted even when it fails.

use std::net::IpAddr;
use std::process::Command;

use vnet_host::link::{self, Link};
use vnet_host::netns::{NetNs, require_root};
use vnet_host::{DeviceKind, Error, Options, iface};

/// Runs `f` inside a fresh namespace, or skips (see `require_root`).
fn in_netns<T: Send>(test: &str, f: impl FnOnce(&NetNs) -> T + Send) -> Option<T> {
    if !require_root(test) {
        return None;
    }
    let ns = NetNs::new().expect("ip netns add");
    Some(ns.run(|| f(&ns)).expect("enter namespace"))
}

/// `ip -n NS -o link show DEV`, what a user would look at.
fn ip_link(ns: &NetNs, dev: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns.name(), "-o", "link", "show", dev])
        .output()
        .expect("ip link show");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn t21_mtu_and_up_set_by_netlink_read_back_by_ioctl_and_ip() {
    in_netns(
        "t21_mtu_and_up_set_by_netlink_read_back_by_ioctl_and_ip",
        |ns| {
            let dev = Options::new(DeviceKind::Tun).name("vlink0").open().unwrap();
            assert!(!dev.is_up().unwrap(), "a new TUN device is down");
            for mtu in [9000, 1420, 68, 65535] {
                dev.set_mtu(mtu).unwrap();
                assert_eq!(dev.mtu().unwrap(), mtu, "SIOCGIFMTU");
                assert!(ip_link(ns, "vlink0").contains(&format!(" mtu {mtu} ")));
            }
            dev.set_up(true).unwrap();
            assert!(dev.is_up().unwrap());
            assert!(
                ip_link(ns, "vlink0").contains(",UP"),
                "{}",
                ip_link(ns, "vlink0")
            );
            dev.set_up(false).unwrap();
            assert!(!dev.is_up().unwrap());
            // By index, as a program holding only an index would.
            let index = Link::Name("vlink0").index().unwrap();
            link::set_mtu(Link::Index(index), 1280).unwrap();
            link::set_up(Link::Index(index), true).unwrap();
            assert_eq!(link::mtu(Link::Index(index)).unwrap(), 1280);
            assert!(link::is_up(Link::Index(index)).unwrap());
            assert_eq!(Link::Index(index).name().unwrap(), "vlink0");
        },
    );
}

#[test]
fn t21_addresses_with_prefix_added_and_removed() {
    in_netns("t21_addresses_with_prefix_added_and_removed", |_| {
        let dev = Options::new(DeviceKind::Tun).name("vlink1").open().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        dev.add_address(v4, 24).unwrap();
        dev.add_address(v6, 64).unwrap();
        dev.set_up(true).unwrap();
        let have = iface::addresses("vlink1").unwrap();
        assert!(have.contains(&(v4, 24)), "{have:?}");
        assert!(have.contains(&(v6, 64)), "{have:?}");
        // Twice is the kernel's EEXIST, as an errno the caller can match.
        let again = dev.add_address(v4, 24).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EEXIST), "{again}");
        dev.remove_address(v4, 24).unwrap();
        dev.remove_address(v6, 64).unwrap();
        let have = iface::addresses("vlink1").unwrap();
        assert!(!have.iter().any(|(a, _)| *a == v4 || *a == v6), "{have:?}");
    });
}

#[test]
fn t21_refusals_are_errnos_or_typed() {
    in_netns("t21_refusals_are_errnos_or_typed", |_| {
        let dev = Options::new(DeviceKind::Tun).name("vlink2").open().unwrap();
        // A TUN device takes 68..=65535.
        for mtu in [67, 65536] {
            let err = dev.set_mtu(mtu).unwrap_err();
            assert!(matches!(err, Error::Io { .. }), "{err:?}");
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "mtu {mtu}: {err}");
        }
        assert_eq!(dev.mtu().unwrap(), 1500, "unchanged");
        let err = link::set_mtu(Link::Name("nosuchdev0"), 1400).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
        let err = link::set_up(Link::Index(999_999), true).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
        let err = link::add_address(Link::Name("vlink2"), "192.0.2.9".parse().unwrap(), 33);
        assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        let err = link::add_address(Link::Name("vlink2"), "2001:db8::9".parse().unwrap(), 129);
        assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    });
}

// ---- the fuzz target `netlink_ack`: its seeds and the replay of its corpus ----

/// The fuzz directory, beside this crate.
fn fuzz_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// One rtnetlink message: length, type, flags 0, `seq`, pid 0, then `body`.
fn nlmsg(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(body);
    m
}

/// An acknowledgement of `seq` with `code` (0 or -errno), echoing a 16-byte request header.
fn ack(seq: u32, code: i32) -> Vec<u8> {
    let mut body = code.to_ne_bytes().to_vec();
    body.extend(nlmsg(libc::RTM_NEWLINK, seq, &[]));
    nlmsg(libc::NLMSG_ERROR as u16, seq, &body)
}

/// The seeds, in the target's byte form (sequence number 7, then the datagram): the replies
/// the kernel sends, and the shapes next to them.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let with_seq = |d: Vec<u8>| [7u32.to_ne_bytes().to_vec(), d].concat();
    let mut two = ack(6, -libc::EPERM);
    two.extend(ack(7, 0));
    let mut cut = ack(7, 0);
    cut.truncate(18);
    vec![
        ("ack", with_seq(ack(7, 0))),
        ("eexist", with_seq(ack(7, -libc::EEXIST))),
        ("other-then-ours", with_seq(two)),
        ("done", with_seq(nlmsg(libc::NLMSG_DONE as u16, 7, &[0; 4]))),
        ("cut", with_seq(cut)),
    ]
}

/// Checks the committed seeds equal [`seeds`] (`VNET_WRITE_SEEDS=1` rewrites them), then runs
/// every corpus and regression file through the target's law.
#[test]
fn netlink_ack_seeds_and_corpus_replay() {
    let corpus = fuzz_dir().join("corpus/netlink_ack");
    for (name, bytes) in seeds() {
        let path = corpus.join(format!("seed-{name}"));
        if std::env::var_os("VNET_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(&corpus).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert_eq!(
            committed,
            bytes,
            "{}: run VNET_WRITE_SEEDS=1",
            path.display()
        );
    }
    let mut replayed = 0;
    for dir in [corpus, fuzz_dir().join("regressions/netlink_ack")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            let (seq, datagram) = match data.split_first_chunk::<4>() {
                Some((seq, rest)) => (u32::from_ne_bytes(*seq), rest),
                None => (0, &data[..]),
            };
            if let Ok(Some(_)) = link::parse_ack(datagram, seq) {
                assert!(datagram.len() >= 20);
            }
            replayed += 1;
        }
    }
    assert!(replayed >= seeds().len());
    let answers: Vec<_> = seeds()
        .iter()
        .map(|(_, d)| link::parse_ack(&d[4..], 7).map_err(|e| e.to_string()))
        .collect();
    eprintln!("netlink_ack: replayed {replayed} files; seed answers {answers:?}");
    assert_eq!(answers[0], Ok(Some(0)));
    assert_eq!(answers[1], Ok(Some(libc::EEXIST)));
    assert_eq!(answers[2], Ok(Some(0)));
    assert_eq!(answers[3], Ok(None));
    assert!(answers[4].is_err());
}
