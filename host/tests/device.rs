//! Opening, adopting and configuring real TUN/TAP devices. Each test works in its own network
//! namespace, so parallel tests cannot collide on names and every device disappears with it.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use vnet_core::hdr::{Endian, Layout};
use vnet_host::netns::{self, NetNs, require_root};
use vnet_host::{Device, DeviceKind, Error, OffloadRule, Offloads, Options};

/// Runs `f` inside a fresh namespace, or skips (see `require_root`).
fn in_netns<T: Send>(test: &str, f: impl FnOnce(&NetNs) -> T + Send) -> Option<T> {
    if !require_root(test) {
        return None;
    }
    let ns = NetNs::new().expect("ip netns add");
    Some(ns.run(|| f(&ns)).expect("enter namespace"))
}

/// Opens `name` with `layout`'s header, other options at their defaults.
fn open(kind: DeviceKind, name: &str, layout: Layout) -> Device {
    let dev = Options::new(kind).name(name).layout(layout).open();
    dev.unwrap_or_else(|e| panic!("open {name}: {e}"))
}

#[test]
fn open_tun_and_tap_with_each_header_size() {
    in_netns("open_tun_and_tap_with_each_header_size", |_| {
        for (kind, prefix) in [(DeviceKind::Tun, "vt"), (DeviceKind::Tap, "vp")] {
            for layout in Layout::ALL {
                let size = layout.size();
                let name = format!("{prefix}{size}");
                let dev = open(kind, &name, layout);
                assert_eq!(dev.name(), name);
                assert_eq!(dev.kind(), kind);
                assert_eq!(dev.vnet_hdr_len(), size, "read back by TUNGETVNETHDRSZ");
                assert_eq!(dev.layout(), layout);
                assert_eq!(dev.endian(), Endian::Little);
                assert!(dev.features().unwrap().vnet_hdr());
            }
            // No name: the kernel picks tun%d / tap%d.
            let dev = Options::new(kind).open().unwrap();
            let expected = if kind == DeviceKind::Tun {
                "tun"
            } else {
                "tap"
            };
            assert!(dev.name().starts_with(expected), "{}", dev.name());
        }
    });
}

#[test]
fn options_are_checked_before_the_kernel() {
    // Refused before /dev/net/tun is opened, so this needs no privileges.
    let bad_name = Options::new(DeviceKind::Tun)
        .name("much-too-long-name")
        .open();
    assert!(matches!(bad_name, Err(Error::InvalidName { .. })));
}

#[test]
fn adopt_a_preopened_fd() {
    in_netns("adopt_a_preopened_fd", |_| {
        let dev = open(DeviceKind::Tap, "vadopt0", Layout::V1HashTunnel);
        // A dup, as a runtime would pass it; the original stays open.
        let dup: OwnedFd = dev.as_fd().try_clone_to_owned().unwrap();
        let adopted = Device::from_fd(dup).unwrap();
        assert_eq!(adopted.name(), "vadopt0");
        assert_eq!(adopted.kind(), DeviceKind::Tap);
        assert_eq!(adopted.vnet_hdr_len(), 24);
        assert!(adopted.is_little_endian());

        // Handing the fd itself over works too.
        let tun = Options::new(DeviceKind::Tun)
            .name("vadopt1")
            .little_endian(false)
            .open()
            .unwrap();
        let adopted = Device::from_fd(OwnedFd::from(tun)).unwrap();
        assert_eq!(adopted.name(), "vadopt1");
        assert_eq!(adopted.kind(), DeviceKind::Tun);
        assert_eq!(adopted.vnet_hdr_len(), 12);
        assert!(!adopted.is_little_endian());
    });
}

#[test]
fn adopting_an_fd_without_vnet_hdr_is_a_typed_error() {
    in_netns("adopting_an_fd_without_vnet_hdr_is_a_typed_error", |_| {
        let plain = netns::open_tun_without_vnet_hdr("vplain0").unwrap();
        match Device::from_fd(plain) {
            Err(Error::NoVnetHeader { name, flags }) => {
                assert_eq!(name, "vplain0");
                assert_eq!(flags & libc::IFF_VNET_HDR as u32, 0);
            }
            other => panic!("expected NoVnetHeader, got {other:?}"),
        }
        // An fd that was never attached: TUNGETIFF itself fails (EBADFD, T8).
        let unattached = OwnedFd::from(File::open("/dev/net/tun").unwrap());
        match Device::from_fd(unattached) {
            Err(Error::Ioctl { op, source }) => {
                assert_eq!(op, "TUNGETIFF");
                assert_eq!(source.raw_os_error(), Some(libc::EBADFD));
            }
            other => panic!("expected TUNGETIFF error, got {other:?}"),
        }
    });
}

#[test]
fn invalid_offloads_are_typed_errors() {
    in_netns("invalid_offloads_are_typed_errors", |_| {
        let dev = Options::new(DeviceKind::Tun).name("voff0").open().unwrap();
        let cases = [
            (Offloads::TSO4, OffloadRule::NeedsCsum(Offloads::TSO4)),
            (Offloads::CSUM | Offloads::TSO_ECN, OffloadRule::EcnNeedsTso),
            (Offloads::CSUM | Offloads::USO6, OffloadRule::UsoPair),
            (
                Offloads::CSUM | Offloads::from_bits_retain(0x1000),
                OffloadRule::Unknown(Offloads::from_bits_retain(0x1000)),
            ),
            (
                Offloads::CSUM | Offloads::UFO | Offloads::UDP_TUNNEL_GSO,
                OffloadRule::TunnelNeedsSegmentation,
            ),
            (
                Offloads::CSUM | Offloads::TSO4 | Offloads::UDP_TUNNEL_GSO_CSUM,
                OffloadRule::TunnelCsumNeedsTunnel,
            ),
        ];
        for (offloads, rule) in cases {
            match dev.set_offloads(offloads) {
                Err(Error::InvalidOffloads(got)) => assert_eq!(got, rule, "{offloads}"),
                other => panic!("{offloads}: expected {rule}, got {other:?}"),
            }
        }
        // The kernel enforces the same rules (T10) when our check is bypassed.
        // (The tunnel sets are refused by kernels without tunnel GSO too, as unknown bits.)
        for offloads in [
            Offloads::TSO4,
            Offloads::CSUM | Offloads::USO4,
            Offloads::CSUM | Offloads::UFO | Offloads::UDP_TUNNEL_GSO,
            Offloads::CSUM | Offloads::TSO4 | Offloads::UDP_TUNNEL_GSO_CSUM,
        ] {
            match dev.set_offloads_unchecked(offloads) {
                Err(Error::Ioctl { op, source }) => {
                    assert_eq!(op, "TUNSETOFFLOAD");
                    assert_eq!(source.raw_os_error(), Some(libc::EINVAL), "{offloads}");
                }
                other => panic!("{offloads}: expected EINVAL, got {other:?}"),
            }
        }
    });
}

#[test]
fn negotiate_offloads_gets_the_full_set_on_this_kernel() {
    in_netns(
        "negotiate_offloads_gets_the_full_set_on_this_kernel",
        |_| {
            let dev = Options::new(DeviceKind::Tun).name("vneg0").open().unwrap();
            assert_eq!(
                dev.negotiate_offloads(Offloads::FULL).unwrap(),
                Offloads::FULL
            );
            // UFO is accepted (but never produced, T9).
            assert_eq!(
                dev.negotiate_offloads(Offloads::ALL).unwrap(),
                Offloads::ALL
            );
            assert_eq!(
                dev.negotiate_offloads(Offloads::NONE).unwrap(),
                Offloads::NONE
            );
            assert!(matches!(
                dev.negotiate_offloads(Offloads::TSO6),
                Err(Error::InvalidOffloads(OffloadRule::NeedsCsum(_)))
            ));
        },
    );
}

#[test]
fn nonblocking_read_on_an_idle_device_would_block() {
    in_netns("nonblocking_read_on_an_idle_device_would_block", |_| {
        let dev = Options::new(DeviceKind::Tun)
            .name("vnb0")
            .nonblocking(true)
            .open()
            .unwrap();
        let (mut hdr, mut buf) = ([0u8; 12], [0u8; 1500]);
        let err = dev.read_packet(&mut hdr, &mut buf).unwrap_err();
        assert!(err.is_would_block(), "{err:?}");
        assert_eq!(
            std::io::Error::from(err).kind(),
            std::io::ErrorKind::WouldBlock
        );
        // A header buffer of the wrong size is refused before any syscall.
        let mut short = [0u8; 10];
        assert!(matches!(
            dev.read_packet(&mut short, &mut buf),
            Err(Error::HeaderBufferSize {
                expected: 12,
                actual: 10
            })
        ));
        assert!(matches!(
            dev.write_packet(&short, &buf),
            Err(Error::HeaderBufferSize { .. })
        ));
    });
}

#[test]
fn namespace_is_deleted_even_when_the_closure_panics() {
    if !require_root("namespace_is_deleted_even_when_the_closure_panics") {
        return;
    }
    let ns = NetNs::new().unwrap();
    let name = ns.name().to_owned();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ns.run(|| panic!("deliberate panic inside the namespace"))
    }));
    assert!(panicked.is_err(), "the panic reaches the caller");
    drop(ns);
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str())),
        "{name} still listed: {list}"
    );
}

#[test]
fn send_refuses_a_header_the_layout_cannot_hold() {
    in_netns("send_refuses_a_header_the_layout_cannot_hold", |_| {
        let dev = open(DeviceKind::Tun, "vlegacy0", Layout::Legacy);
        let hdr = vnet_core::hdr::VnetHdr {
            num_buffers: 1,
            ..Default::default()
        };
        // Refused by vnet-core before any syscall: the 10-byte layout has no num_buffers.
        assert!(matches!(
            dev.send(&hdr, &[0x45; 20]),
            Err(Error::Core(vnet_core::Error::Hdr(
                vnet_core::hdr::HdrError::Unrepresentable { .. }
            )))
        ));
    });
}
