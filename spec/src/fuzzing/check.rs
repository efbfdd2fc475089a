//! `check`: header validation never panics, and what it accepts it has located in the packet.

use super::form;
use vnet_core::check::{self, CheckOptions, GsoKind, Mode, Offload};
use vnet_core::hdr::{Flags, GsoType, Layout, VnetHdr};
use vnet_core::wire::{self, IpProtocol, IpVersion, Link, TcpPacket};

/// One input of the `check` target: a header, the options it is checked under, and the packet.
///
/// Its byte form is fixed, so that seeds can be written and a crash file read by eye: the header as
/// the 24-byte layout in little-endian order, one byte of option bits (`OPT_*`), the USO segment
/// limit as a little-endian `u16` (the kernel profile's), then the packet. [`Arbitrary`] reads exactly that form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInput {
    /// The virtio-net header.
    pub hdr: VnetHdr,
    /// The options.
    pub opts: CheckOptions,
    /// The packet after the header.
    pub packet: Vec<u8>,
}

/// Option bit: the packet is a TAP frame (else TUN).
pub const OPT_TAP: u8 = 0x01;
/// Option bit: strict mode (else Linux).
pub const OPT_STRICT: u8 = 0x02;
/// Option bit: UDP-tunnel GSO negotiated.
pub const OPT_TUNNEL: u8 = 0x04;
/// Option bit: UDP-tunnel checksum negotiated.
pub const OPT_TUNNEL_CSUM: u8 = 0x08;
/// Option bits 4-5: the device's header layout (T14 counts its unparsed bytes): 0 the 12-byte
/// layout (the default), 1 the 10-byte, 2 the 20-byte, 3 the 24-byte.
pub const OPT_LAYOUT_SHIFT: u8 = 4;
/// Option bits 6-7: the kernel profile, an index into [`KERNELS`](crate::kernels::KERNELS).
pub const OPT_KERNEL_SHIFT: u8 = 6;

const LAYOUTS: [Layout; 4] = [
    Layout::V1,
    Layout::Legacy,
    Layout::V1Hash,
    Layout::V1HashTunnel,
];

const FIXED: usize = form::HDR + 1 + 2;

impl CheckInput {
    /// Decodes the byte form; `None` if it is shorter than the fixed part.
    pub fn from_bytes(data: &[u8]) -> Option<CheckInput> {
        let (hdr, bits, kernel, packet) = form::read_head(data, OPT_KERNEL_SHIFT)?;
        let opts = CheckOptions {
            link: form::link(bits & OPT_TAP != 0),
            mode: if bits & OPT_STRICT != 0 {
                Mode::Strict
            } else {
                Mode::Linux
            },
            layout: LAYOUTS[usize::from(bits >> OPT_LAYOUT_SHIFT & 3)],
            kernel,
            tunnel: bits & OPT_TUNNEL != 0,
            tunnel_csum: bits & OPT_TUNNEL_CSUM != 0,
        };
        Some(CheckInput {
            hdr,
            opts,
            packet: packet.to_vec(),
        })
    }

    /// The byte form that [`from_bytes`](Self::from_bytes) decodes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let o = &self.opts;
        let layout = LAYOUTS.iter().position(|&l| l == o.layout).unwrap_or(0) as u8;
        let bits = form::bits(&[
            (o.link == Link::Tap, OPT_TAP),
            (o.mode == Mode::Strict, OPT_STRICT),
            (o.tunnel, OPT_TUNNEL),
            (o.tunnel_csum, OPT_TUNNEL_CSUM),
        ]) | layout << OPT_LAYOUT_SHIFT;
        let mut out = form::head(&self.hdr, bits, &o.kernel, OPT_KERNEL_SHIFT);
        out.extend_from_slice(&self.packet);
        out
    }

    /// A TUN input under the default options (Linux rules, this kernel's USO limit).
    pub fn tun(hdr: VnetHdr, packet: Vec<u8>) -> CheckInput {
        CheckInput {
            hdr,
            opts: CheckOptions::default(),
            packet,
        }
    }
}

arbitrary_from_bytes!(CheckInput, fixed: FIXED, tail: packet);

/// Runs [`check::check`] and asserts what every answer must satisfy:
///
/// - always: errors name a rule and print; strict mode accepts nothing Linux mode rejects, and
///   gives the same answer; negotiating the tunnel offloads changes nothing for a packet without
///   tunnel bits;
/// - any `Ok`: T14 held (`hdr_len` within the packet and the unparsed header bytes, K1; a TUN packet names IPv4 or IPv6, a TAP frame
///   holds an Ethernet header); strict mode saw no DATA_VALID/RSC_INFO (P9) and no GSO without
///   NEEDS_CSUM (P4);
/// - `Plain`: no NEEDS_CSUM; `Checksum`: exactly the header's request, with the field inside the
///   packet past a minimal IP header (V3);
/// - `Segment`: the kind is the header's type and the size usable (V2, V5); the headers are where
///   `parse_headers` finds them, of the IP version and protocol the type names, not a fragment
///   (S1); `hdr_len` ends after the whole transport header and `hdr_len + payload_len` is the
///   packet (V6); the checksum request is at the transport header with its field inside the packet
///   (V3, V4); USO stays within the segment limit (V4); a tunnel was negotiated and its offsets are
///   ordered (V7).
pub fn check(input: &CheckInput) {
    let CheckInput { hdr, opts, packet } = input;
    let result = check::check(hdr, packet, opts);
    if let Err(e) = &result {
        assert!(!e.rule().is_empty());
        assert!(!e.to_string().is_empty());
    }

    if opts.mode == Mode::Strict {
        let linux = CheckOptions {
            mode: Mode::Linux,
            ..*opts
        };
        if let Ok(strict) = &result {
            assert_eq!(
                check::check(hdr, packet, &linux).as_ref(),
                Ok(strict),
                "strict accepts a subset of Linux, with the same answer"
            );
        }
    }
    if hdr.gso_type.tunnel() == GsoType::NONE {
        let negotiated = CheckOptions {
            tunnel: !opts.tunnel,
            tunnel_csum: !opts.tunnel_csum,
            ..*opts
        };
        assert_eq!(
            check::check(hdr, packet, &negotiated),
            result,
            "tunnel negotiation matters only to tunnel packets"
        );
    }

    let Ok(offload) = result else {
        return;
    };
    let needs_csum = hdr.flags.contains(Flags::NEEDS_CSUM);
    // K1: TUN counts the header bytes after the first 10 (24 with a tunnel header) as packet.
    let unparsed = match opts.layout {
        _ if !opts.kernel.hdr_len_counts_unparsed_header => 0,
        Layout::V1HashTunnel => 0,
        other => other.size() - Layout::Legacy.size(),
    };
    assert!(usize::from(hdr.hdr_len) <= packet.len() + unparsed, "T14");
    match opts.link {
        Link::Tun => assert!(matches!(packet.first().map(|b| b >> 4), Some(4 | 6)), "T14"),
        Link::Tap => assert!(packet.len() >= wire::ETHERNET_HEADER_LEN, "T14"),
    }
    if opts.mode == Mode::Strict {
        assert!(!hdr.flags.contains(Flags::DATA_VALID), "P9");
        assert!(!hdr.flags.contains(Flags::RSC_INFO), "P9");
        assert!(hdr.gso_type == GsoType::NONE || needs_csum, "P4");
    }
    match offload {
        Offload::Plain => assert!(!needs_csum),
        Offload::Checksum(c) => {
            assert!(needs_csum);
            assert_eq!((c.start, c.offset), (hdr.csum_start, hdr.csum_offset));
            let end = usize::from(c.start) + usize::from(c.offset) + 2;
            assert!(
                end <= packet.len(),
                "V3: the checksum field is in the packet"
            );
            if opts.kernel.csum_start_past_ip_header {
                assert!(
                    usize::from(c.start) >= wire::IPV4_MIN_HEADER_LEN,
                    "V3 (K17)"
                );
            }
        }
        Offload::Segment(req) => assert_segment(input, &req),
    }
}

/// The `Segment` laws listed on [`check`].
fn assert_segment(input: &CheckInput, req: &check::GsoRequest) {
    let CheckInput { hdr, opts, packet } = input;
    let base = hdr.gso_type.base();
    let kind = match base {
        GsoType::TCPV4 | GsoType::TCPV6 => GsoKind::Tcp,
        GsoType::UDP_L4 => GsoKind::Uso,
        GsoType::UDP => GsoKind::Ufo,
        other => panic!("a GSO request from unknown type {other:?}"),
    };
    assert_eq!(req.kind, kind);
    assert_eq!(req.ecn, hdr.gso_type.has_ecn());
    // K19: a TCP size below the kernel's minimum is raised to it.
    let gso_size = match kind {
        GsoKind::Tcp => hdr.gso_size.max(opts.kernel.tcp_min_gso_size),
        GsoKind::Uso | GsoKind::Ufo => hdr.gso_size,
    };
    assert_eq!(req.gso_size, gso_size);
    assert!(req.gso_size != 0 && req.gso_size != u16::MAX, "V2");
    assert!(
        packet.len() > usize::from(req.gso_size),
        "V5: more than one segment"
    );

    assert_eq!(req.hdr_len + req.payload_len, packet.len());
    let h = &req.headers;
    assert_eq!(h.l4_offset, h.l3_offset + h.l3_len);
    assert!(h.l4_offset < req.hdr_len && req.hdr_len <= packet.len());
    let l4_len = req.hdr_len - h.l4_offset;
    match kind {
        GsoKind::Tcp => {
            let tcp = TcpPacket::new_checked(&packet[h.l4_offset..]).expect("a located TCP header");
            assert_eq!(l4_len, tcp.header_len());
            assert_eq!(h.protocol, IpProtocol::TCP);
        }
        GsoKind::Uso | GsoKind::Ufo => {
            assert_eq!(l4_len, wire::UDP_HEADER_LEN);
            assert_eq!(h.protocol, IpProtocol::UDP);
        }
    }
    match base {
        GsoType::TCPV4 => assert_eq!(h.ip, IpVersion::V4),
        GsoType::TCPV6 => assert_eq!(h.ip, IpVersion::V6),
        _ => {}
    }
    assert!(!h.fragment, "S1: a fragment is not segmented");
    assert!(h.l3_len >= wire::IPV4_MIN_HEADER_LEN);

    match (hdr.flags.contains(Flags::NEEDS_CSUM), req.csum) {
        (true, Some(c)) => {
            assert_eq!((c.start, c.offset), (hdr.csum_start, hdr.csum_offset));
            assert_eq!(
                usize::from(c.start),
                h.l4_offset,
                "S1: csum_start is the transport"
            );
            assert!(usize::from(c.start) + usize::from(c.offset) + 2 <= packet.len());
            match kind {
                GsoKind::Tcp => assert_eq!(c.offset, 16, "V4"),
                GsoKind::Uso => assert_eq!(c.offset, 6, "V4"),
                GsoKind::Ufo => {}
            }
        }
        // V4: USO needs NEEDS_CSUM; TCP (V10) and UFO (K7: checksummed whole) may go without.
        (false, None) => assert_ne!(kind, GsoKind::Uso, "V4: USO needs NEEDS_CSUM"),
        (flag, csum) => panic!("NEEDS_CSUM {flag} but csum request {csum:?}"),
    }
    if opts.mode == Mode::Strict {
        assert!(usize::from(hdr.hdr_len) >= req.hdr_len, "P6");
    }
    if kind == GsoKind::Uso {
        let max = usize::from(req.gso_size) * usize::from(opts.kernel.udp_max_segments);
        assert!(
            req.payload_len <= max,
            "V4: at most udp_max_segments segments"
        );
    }

    match req.tunnel {
        None => {
            assert_eq!(hdr.gso_type.tunnel(), GsoType::NONE);
            assert_eq!(wire::parse_headers(packet, opts.link), Ok(*h));
        }
        Some(t) => {
            assert!(opts.tunnel, "V7: tunnel GSO was negotiated");
            assert!(!t.outer_csum || opts.tunnel_csum, "V7");
            assert_eq!(t.outer_csum, hdr.flags.contains(Flags::UDP_TUNNEL_CSUM));
            assert_eq!(
                (t.outer_th, t.inner_nh),
                (hdr.outer_th_offset, hdr.inner_nh_offset)
            );
            let expected_outer = if hdr.gso_type.tunnel() == GsoType::UDP_TUNNEL_IPV6 {
                IpVersion::V6
            } else {
                IpVersion::V4
            };
            assert_eq!(t.outer_ip, expected_outer);
            let (outer_th, inner_nh) = (usize::from(t.outer_th), usize::from(t.inner_nh));
            assert!(outer_th + wire::UDP_HEADER_LEN <= inner_nh, "V7");
            assert!(outer_th >= wire::ETHERNET_HEADER_LEN + wire::IPV4_MIN_HEADER_LEN);
            assert_eq!(h.l3_offset, inner_nh, "the inner packet starts at inner_nh");
            let mut inner = wire::parse_headers(&packet[inner_nh..], Link::Tun)
                .expect("the inner headers parse");
            inner.l3_offset += inner_nh;
            inner.l4_offset += inner_nh;
            assert_eq!(inner, *h);
        }
    }
}
