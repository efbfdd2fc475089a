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
