use super::*;
use crate::meta::{L4Protocol, RxChecksumState, VlanMetadata};
use std::string::ToString;

const ONE: NonZeroU16 = NonZeroU16::MIN;

/// F1: every number as Linux's uapi `virtio_net.h` (and `virtio_config.h` for VERSION_1) and the
/// spec's "Feature bits" list give it.
#[test]
fn f1_bit_numbers() {
    for (f, n) in [
        (Features::CSUM, 0),
        (Features::GUEST_CSUM, 1),
        (Features::GUEST_TSO4, 7),
        (Features::GUEST_TSO6, 8),
        (Features::GUEST_ECN, 9),
        (Features::GUEST_UFO, 10),
        (Features::HOST_TSO4, 11),
        (Features::HOST_TSO6, 12),
        (Features::HOST_ECN, 13),
        (Features::HOST_UFO, 14),
        (Features::MRG_RXBUF, 15),
        (Features::VERSION_1, 32),
        (Features::GUEST_USO4, 54),
        (Features::GUEST_USO6, 55),
        (Features::HOST_USO, 56),
        (Features::HASH_REPORT, 57),
        (Features::GUEST_HDRLEN, 59),
        (Features::GUEST_UDP_TUNNEL_GSO, 65),
        (Features::GUEST_UDP_TUNNEL_GSO_CSUM, 66),
        (Features::HOST_UDP_TUNNEL_GSO, 67),
        (Features::HOST_UDP_TUNNEL_GSO_CSUM, 68),
    ] {
        assert_eq!(f.0, 1u128 << n, "{f:?}");
        assert!(feature_name(f).is_some());
    }
    let (lo, hi) = Features::HOST_UDP_TUNNEL_GSO.words();
    assert_eq!((lo, hi), (0, 1 << 3));
    assert_eq!(Features::from_words(lo, hi), Features::HOST_UDP_TUNNEL_GSO);
    assert_eq!(
        std::format!(
            "{:?}",
            Features::CSUM
                .with(Features::HOST_TSO4)
                .with(Features(1 << 5))
        ),
        "CSUM|HOST_TSO4|0x20"
    );
}

#[test]
fn f3_negotiate_errors_name_the_rule() {
    let tso = Features::HOST_TSO4;
    let e = negotiate(tso, Features::EMPTY).unwrap_err();
    assert_eq!(
        e,
        FeatureError::Requires {
            party: Party::Device,
            feature: Features::HOST_TSO4,
            requires: Features::CSUM,
            needs: Needs::All,
        }
    );
    assert_eq!(e.rule(), "F3");
    assert_eq!(
        e.to_string(),
        "F3: the device offers HOST_TSO4 without CSUM"
    );
    let offer = Features::CSUM
        .with(Features::HOST_TSO4)
        .with(Features::HOST_ECN);
    assert_eq!(
        negotiate(offer, Features::HOST_ECN.with(Features::CSUM)).unwrap_err(),
        FeatureError::Requires {
            party: Party::Driver,
            feature: Features::HOST_ECN,
            requires: Features::HOST_TSO4.with(Features::HOST_TSO6),
            needs: Needs::Any,
        }
    );
    assert_eq!(
        negotiate(Features::CSUM, Features::GUEST_CSUM),
        Err(FeatureError::NotOffered(Features::GUEST_CSUM))
    );
    let agreed = negotiate(offer, offer).unwrap();
    assert_eq!(agreed.features(), offer);
    let e: crate::Error = FeatureError::NoLayout.into();
    assert_eq!(e.rule(), Some("F4"));
}

/// F2, exhaustively over the table's 17 bits: `broken_rule` is None exactly when every row of
/// the spec's table, written out again here, holds; `closure` keeps F2 and is a subset.
#[test]
fn f2_every_combination_of_the_dependency_table() {
    let bits: std::vec::Vec<u32> = (0..128)
        .filter(|n| Features::DEPENDENT.contains(Features(1 << n)))
        .collect();
    assert_eq!(bits.len(), 17);
    // Every set natively; under Miri (which checks for UB, not coverage, at ~1000x the cost) a
    // spread of 511 of them.
    let stride = if cfg!(miri) { 257 } else { 1 };
    for combo in (0u32..(1 << bits.len())).step_by(stride) {
        let mut set = Features::EMPTY;
        for (i, n) in bits.iter().enumerate() {
            if combo & (1 << i) != 0 {
                set = set.with(Features(1 << n));
            }
        }
        let has = |f| set.contains(f);
        let g = |f| has(f);
        let ok = (!g(Features::GUEST_TSO4) || g(Features::GUEST_CSUM))
            && (!g(Features::GUEST_TSO6) || g(Features::GUEST_CSUM))
            && (!g(Features::GUEST_ECN) || g(Features::GUEST_TSO4) || g(Features::GUEST_TSO6))
            && (!g(Features::GUEST_UFO) || g(Features::GUEST_CSUM))
            && (!g(Features::GUEST_USO4) || g(Features::GUEST_CSUM))
            && (!g(Features::GUEST_USO6) || g(Features::GUEST_CSUM))
            && (!g(Features::GUEST_UDP_TUNNEL_GSO)
                || (g(Features::GUEST_TSO4)
                    && g(Features::GUEST_TSO6)
                    && g(Features::GUEST_USO4)
                    && g(Features::GUEST_USO6)))
            && (!g(Features::GUEST_UDP_TUNNEL_GSO_CSUM) || g(Features::GUEST_UDP_TUNNEL_GSO))
            && (!g(Features::HOST_TSO4) || g(Features::CSUM))
            && (!g(Features::HOST_TSO6) || g(Features::CSUM))
            && (!g(Features::HOST_ECN) || g(Features::HOST_TSO4) || g(Features::HOST_TSO6))
            && (!g(Features::HOST_UFO) || g(Features::CSUM))
            && (!g(Features::HOST_USO) || g(Features::CSUM))
            && (!g(Features::HOST_UDP_TUNNEL_GSO)
                || (g(Features::HOST_TSO4) && g(Features::HOST_TSO6) && g(Features::HOST_USO)))
            && (!g(Features::HOST_UDP_TUNNEL_GSO_CSUM) || g(Features::HOST_UDP_TUNNEL_GSO));
        assert_eq!(set.broken_rule().is_none(), ok, "{set:?}");
        assert_eq!(negotiate(set, set).is_ok(), ok, "{set:?}");
        let closed = set.closure();
        assert!(closed.broken_rule().is_none(), "{set:?}");
        assert_eq!(closed.without(set), Features::EMPTY);
        if ok {
            assert_eq!(closed, set);
            let agreed = negotiate(set, set).unwrap();
            // F7 keeps T10 (TUNSETOFFLOAD's rule), written out.
            let t = agreed.tap_offloads();
            let csum = t & 1 != 0;
            assert!(t & !0x1ff == 0);
            assert!(t == 0 || csum, "{set:?} {t:#x}");
            assert!(t & 0x08 == 0 || t & 0x06 != 0, "{set:?} {t:#x}");
            assert!(t & 0x60 == 0 || t & 0x60 == 0x60, "{set:?} {t:#x}");
            assert!(t & 0x80 == 0 || t & 0x66 != 0, "{set:?} {t:#x}");
            assert!(t & 0x100 == 0 || t & 0x80 != 0, "{set:?} {t:#x}");
            // F5: what the guest may ask is what the HOST_ bits say.
            let s = agreed.tx_offload_support();
            assert_eq!(s.tcp, has(Features::CSUM));
            assert!(!s.tso || s.tcp);
            assert!(!s.uso || s.udp);
        }
    }
}

#[test]
fn f4_layouts() {
    let l = |f: Features| negotiate(f, f).and_then(|a| a.layout());
    assert_eq!(l(Features::EMPTY), Ok(Layout::Legacy));
    assert_eq!(l(Features::VERSION_1), Ok(Layout::V1));
    assert_eq!(l(Features::MRG_RXBUF), Ok(Layout::V1));
    assert_eq!(l(Features::HASH_REPORT), Ok(Layout::V1Hash));
    let tunnel = Features::CSUM
        .with(Features::HOST_TSO4)
        .with(Features::HOST_TSO6)
        .with(Features::HOST_USO)
        .with(Features::HOST_UDP_TUNNEL_GSO)
        .with(Features::VERSION_1);
    assert_eq!(l(tunnel), Err(FeatureError::NoLayout));
    assert_eq!(
        l(tunnel.with(Features::HASH_REPORT)),
        Ok(Layout::V1HashTunnel)
    );
}

/// F5 with everything supported: the offer comes back as the whole support. (That no offer
/// exceeds its support is law L10c, run over all 32 supports in spec/tests/l10_virtio.rs.)
#[test]
fn f5_device_offer_of_full_support_comes_back() {
    let full = TxOffloadSupport::ALL;
    let offer = Features::device_offer(&full);
    assert_eq!(negotiate(offer, offer).unwrap().tx_offload_support(), full);
}

#[test]
fn f6_admit_refuses_and_ignores() {
    let csum_only = negotiate(Features::CSUM, Features::CSUM).unwrap();
    let nothing = negotiate(Features::EMPTY, Features::EMPTY).unwrap();
    let needs = VnetHdr {
        flags: Flags::NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    assert_eq!(csum_only.admit(&needs), Ok(needs));
    assert_eq!(nothing.admit(&needs).unwrap_err().rule(), "F6");
    let tso = VnetHdr {
        gso_type: GsoType::TCPV4,
        gso_size: 1448,
        hdr_len: 54,
        ..needs
    };
    assert_eq!(
        csum_only.admit(&tso),
        Err(FeatureError::Header {
            rule: "F6",
            field: crate::error::Field::GsoType,
            value: 1,
            missing: Features::HOST_TSO4,
        })
    );
    // Ignored: unknown flag bits, offsets without NEEDS_CSUM, tunnel offsets without a tunnel bit,
    // ECN without HOST_ECN, receive-only fields.
    let noisy = VnetHdr {
        flags: Flags(0x40),
        csum_start: 9,
        csum_offset: 9,
        outer_th_offset: 3,
        num_buffers: 4,
        hash_value: 5,
        ..VnetHdr::default()
    };
    assert_eq!(csum_only.admit(&noisy), Ok(VnetHdr::default()));
    let offer = Features::CSUM.with(Features::HOST_TSO4);
    let agreed = negotiate(offer, offer).unwrap();
    let ecn = VnetHdr {
        gso_type: GsoType(GsoType::TCPV4.0 | GsoType::ECN.0),
        ..tso
    };
    assert_eq!(agreed.admit(&ecn), Ok(tso));
    let o = agreed.check_options(Link::Tap, Profile::NEWEST).unwrap();
    assert_eq!(
        (o.layout, o.mode, o.tunnel),
        (Layout::Legacy, Mode::Strict, false)
    );
}

#[test]
fn f8_f9_receive_header_both_ways() {
    let good = RxMetadata {
        ip_checksum: RxChecksumState::Good,
        l4_checksum: RxChecksumState::ValidatedButWrong,
        l4_protocol: L4Protocol::Tcp,
        offset: 2,
        len: 60,
        vlan: Some(VlanMetadata(7)),
    };
    let half = RxMetadata {
        ip_checksum: RxChecksumState::Unknown,
        ..good
    };
    let v1 = Features::VERSION_1.with(Features::GUEST_CSUM);
    let agreed = negotiate(v1, v1).unwrap();
    let three = NonZeroU16::new(3).unwrap();
    let h = agreed.rx_header(&good, three);
    assert_eq!((h.flags, h.num_buffers), (Flags::DATA_VALID, 1));
    assert_eq!(agreed.rx_header(&half, ONE).flags, Flags::EMPTY);
    let (m, n) = agreed.read_rx_header(&h).unwrap();
    assert_eq!(n, 1);
    assert_eq!(m.ip_checksum, RxChecksumState::Good);
    let mrg = negotiate(v1.with(Features::MRG_RXBUF), v1.with(Features::MRG_RXBUF)).unwrap();
    assert_eq!(mrg.rx_header(&good, three).num_buffers, 3);
    let legacy = negotiate(Features::GUEST_CSUM, Features::GUEST_CSUM).unwrap();
    assert_eq!(legacy.rx_header(&good, three).num_buffers, 0);
    let no_csum = negotiate(Features::VERSION_1, Features::VERSION_1).unwrap();
    assert_eq!(no_csum.rx_header(&good, ONE).flags, Flags::EMPTY);
    assert_eq!(no_csum.read_rx_header(&h).unwrap_err().rule(), "F9");
    let gso = VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type: GsoType::TCPV6,
        num_buffers: 1,
        ..VnetHdr::default()
    };
    assert_eq!(agreed.read_rx_header(&gso).unwrap_err().rule(), "F9");
}
