//! Which [`Profile`] the running kernel follows, found by asking it: a few frames, each chosen so
//! that kernels differing in one fact give different verdicts, are written into a TUN device in a
//! throw-away namespace (root). Never by the version string: two builds of one version can differ
//! (K15).

use std::io;

use vnet_core::hdr::{Flags, GsoType, Layout, VnetHdr};
use vnet_core::kernel::Profile;
use vnet_packet::{L4, PacketSpec, tcp_flags, v6_dest_opts};

use super::{Coalesced, KernelCoalescer, KernelSegmenter};

/// What [`probe`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probed {
    /// The facts, as measured.
    pub profile: Profile,
    /// The named profile with exactly these facts, or `None`: a combination vnet has not named.
    pub name: Option<&'static str>,
}

impl Probed {
    /// The profile's name, or `unknown` for a combination vnet has not named.
    pub fn label(&self) -> &'static str {
        self.name.unwrap_or("unknown")
    }
}

/// USO segment size of the K4 probe: small, so that thousands of segments fit in one packet.
const USO_PROBE_SIZE: u16 = 8;
/// The largest USO segment count the K4 probe tries (8 bytes each, well inside 64 KiB).
const USO_PROBE_MAX: u16 = 4096;
/// The USO limit of kernels that refuse USO on a TUN: they never meet it through a TUN, but
/// `gso` still needs one; 6.1.192's source says 128 (`1382e3b6a350`, backported).
const PRE_USO_LIMIT: u16 = 128;
/// How often a GRO probe (K21, K23) runs its train before it gives up on an unstable kernel.
const GRO_PROBE_TRIES: usize = 5;
/// The largest TCP GSO-size minimum the K19 probe looks for (the kernel's is 8).
const TCP_MIN_PROBE_MAX: u16 = 256;

/// Probes the running kernel (needs root and `/dev/net/tun`). Each fact is one question whose
/// control frame must be accepted, so that a refusal is the fact's and not the frame's.
pub fn probe() -> io::Result<Probed> {
    let seg = KernelSegmenter::new()?;
    let accepts = |hdr: &VnetHdr, pkt: &[u8]| accepts_on(&seg, hdr, pkt);
    let control = |hdr: &VnetHdr, pkt: &[u8], what: &str| control_on(&seg, hdr, pkt, what);

    // K15: TCPV6 over an IPv4/UDP packet without NEEDS_CSUM, its payload within one segment.
    // Without dissection it is a plain packet (V5); a dissecting kernel finds UDP where the type
    // says TCP, over IPv4 where it says IPv6, and refuses it (V9).
    let udp4 = frame(false, PROTO_UDP, 100);
    control(&VnetHdr::default(), &udp4, "K15")?;
    let tcpv6 = VnetHdr {
        gso_type: GsoType::TCPV6,
        gso_size: 1000,
        ..VnetHdr::default()
    };
    let write_dissects_gso = !accepts(&tcpv6, &udp4)?;

    // K17: NEEDS_CSUM with csum_start inside the IPv4 header.
    let csum_at = |start: u16| VnetHdr {
        flags: Flags::NEEDS_CSUM,
        csum_start: start,
        csum_offset: 6,
        ..VnetHdr::default()
    };
    control(&csum_at(20), &udp4, "K17")?;
    let csum_start_past_ip_header = !accepts(&csum_at(10), &udp4)?;

    // K16 and K4: USO, then the largest segment count accepted (binary search; the count is
    // monotonic: one more byte can only add a segment).
    let uso = |segments: u16| {
        let pkt = frame(
            false,
            PROTO_UDP,
            usize::from(segments) * usize::from(USO_PROBE_SIZE),
        );
        let hdr = VnetHdr {
            gso_type: GsoType::UDP_L4,
            gso_size: USO_PROBE_SIZE,
            ..csum_at(20)
        };
        accepts(&hdr, &pkt)
    };
    let has_uso = uso(2)?;
    let udp_max_segments = if has_uso {
        let (mut ok, mut refused) = (2u16, USO_PROBE_MAX + 1);
        if uso(USO_PROBE_MAX)? {
            ok = USO_PROBE_MAX;
        }
        while refused - ok > 1 {
            let mid = ok + (refused - ok) / 2;
            if uso(mid)? {
                ok = mid;
            } else {
                refused = mid;
            }
        }
        ok
    } else {
        PRE_USO_LIMIT
    };

    // K18: TCPV4 without NEEDS_CSUM over 30 bytes (an IPv4 header and 10 bytes): enough for a
    // TCP header alone, not for a minimal IP header and one. The control has a whole TCP header.
    let tso = VnetHdr {
        gso_type: GsoType::TCPV4,
        gso_size: 1000,
        ..VnetHdr::default()
    };
    control(&tso, &frame(false, PROTO_TCP, 0), "K18")?;
    let mut short = frame(false, PROTO_TCP, 0);
    short.truncate(30);
    short[2..4].copy_from_slice(&30u16.to_be_bytes());
    let gso_min_ip_header = !accepts(&tso, &short)?;

    // K19: a TCP payload of g + 1 bytes at gso_size g is one packet where g is raised to a
    // minimum above it, two segments otherwise; the minimum is the smallest g that splits.
    let splits = |g: u16| -> io::Result<bool> {
        let pkt = frame(false, PROTO_TCP, usize::from(g) + 1);
        let hdr = VnetHdr {
            flags: Flags::NEEDS_CSUM,
            gso_type: GsoType::TCPV4,
            gso_size: g,
            csum_start: 20,
            csum_offset: 16,
            ..VnetHdr::default()
        };
        Ok(seg.segment(&hdr, &pkt)?.len() > 1)
    };
    let (mut lo, mut hi) = (1u16, TCP_MIN_PROBE_MAX);
    if !splits(hi)? {
        return Err(io::Error::other(format!(
            "kernel probe: K19: no TCP segmentation at gso_size {hi}"
        )));
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if splits(mid)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let tcp_min_gso_size = if lo == 1 { 0 } else { lo };

    // K1: a plain packet whose hdr_len is one more than its length (the 12-byte layout leaves
    // two header bytes unparsed).
    let with_hdr_len = |hdr_len: usize| VnetHdr {
        hdr_len: hdr_len as u16,
        ..VnetHdr::default()
    };
    control(&with_hdr_len(udp4.len()), &udp4, "K1")?;
    let hdr_len_counts_unparsed_header = accepts(&with_hdr_len(udp4.len() + 1), &udp4)?;

    // The GRO facts: what the kernel's GRO makes of a train, from one coalescer.
    let co = KernelCoalescer::new()?;
    let coalesce = |train: &[Vec<u8>], fact: &str| -> io::Result<Vec<(VnetHdr, Vec<u8>)>> {
        for _ in 0..GRO_PROBE_TRIES {
            if let Coalesced::Stable(out) = co.coalesce_checked(train)? {
                return Ok(out);
            }
        }
        Err(io::Error::other(format!(
            "kernel probe: {fact}: GRO never gave the same answer twice"
        )))
    };
    const ACK: u8 = 0x10;
    const CWR_ACK: u8 = 0x90;
    const PSH_ACK: u8 = 0x18;
    // K21: a CWR segment and the next of its flow: merged where CWR need not match.
    let cwr = [
        gro_segment(1000, 1, CWR_ACK, 1, true),
        gro_segment(1000, 101, ACK, 2, true),
    ];
    let gro_cwr_must_match = coalesce(&cwr, "K21")?.len() != 1;
    // K23: A, A (DF clear, one ID), then B PSH. Taken as a fixed-ID train, A is held until the
    // end and B comes out first; otherwise the second A completes the first, which leaves first.
    let fixed = [
        gro_segment(1000, 1, ACK, 7, false),
        gro_segment(1000, 101, ACK, 7, false),
        gro_segment(2000, 1, PSH_ACK, 9, true),
    ];
    let out = coalesce(&fixed, "K23")?;
    let first_port = out
        .first()
        .and_then(|(_, p)| p.get(20..22))
        .map(|b| u16::from_be_bytes([b[0], b[1]]));
    let gro_fixed_id_needs_df = first_port == Some(1000);

    // K22: TCPV6 GSO of a packet with an 8-byte destination-options header: segmented, or
    // dropped. The control is the same packet without the header.
    let tso6 = |l4: u16| VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type: GsoType::TCPV6,
        gso_size: 100,
        csum_start: l4,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let plain6 = frame(true, PROTO_TCP, 300);
    if seg.segment(&tso6(40), &plain6)?.len() < 2 {
        return Err(io::Error::other(
            "kernel probe: the control frame for K22 was not segmented",
        ));
    }
    let with_ext = with_destination_options(300);
    let tcp6_gso_drops_dest_opts = seg.segment(&tso6(48), &with_ext)?.is_empty();

    // K20: a UDP-tunnel TSO frame through a TUN with the 24-byte header (a second world: the
    // namespace costs a few tens of milliseconds). The control is the same frame with the tunnel
    // bits cleared, a plain TSO request every kernel accepts, so that only the bits decide.
    let tnl = KernelSegmenter::with_layout(Layout::V1HashTunnel)?;
    let (tunnel_hdr, tunnel_pkt) = tunnel_frame();
    let plain = VnetHdr {
        gso_type: tunnel_hdr.gso_type.base(),
        outer_th_offset: 0,
        inner_nh_offset: 0,
        ..tunnel_hdr
    };
    control_on(&tnl, &plain, &tunnel_pkt, "K20")?;
    let udp_tunnel_gso = accepts_on(&tnl, &tunnel_hdr, &tunnel_pkt)?;

    let profile = Profile {
        write_dissects_gso,
        uso: has_uso,
        udp_max_segments,
        csum_start_past_ip_header,
        gso_min_ip_header,
        tcp_min_gso_size,
        hdr_len_counts_unparsed_header,
        gro_cwr_must_match,
        tcp6_gso_drops_dest_opts,
        gro_fixed_id_needs_df,
        udp_tunnel_gso,
    };
    Ok(Probed {
        profile,
        name: profile.name(),
    })
}

/// Whether the kernel accepts the write of `hdr` + `pkt` into A (EINVAL: refused).
fn accepts_on(seg: &KernelSegmenter, hdr: &VnetHdr, pkt: &[u8]) -> io::Result<bool> {
    match seg.write(hdr, pkt) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A control write, which must be accepted (else the probe's world or frame is at fault).
fn control_on(seg: &KernelSegmenter, hdr: &VnetHdr, pkt: &[u8], what: &str) -> io::Result<()> {
    if accepts_on(seg, hdr, pkt)? {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kernel probe: the control frame for {what} was refused"
        )))
    }
}

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Bytes of outer IPv4 options in [`tunnel_frame`]: V7 counts an Ethernet header before the
/// outer IP header even on TUN (`outer_th >= 14 + 20`), so a TUN frame's outer IPv4 header needs
/// at least 14 bytes of options (16: NOPs and an end-of-list).
const TUNNEL_OUTER_OPTIONS: usize = 16;

/// The K20 frame and its header: outer IPv4 (with [`TUNNEL_OUTER_OPTIONS`]) to the segmenter's
/// destination, UDP to port 4789, vnet-packet's 8-byte VXLAN-shaped tunnel header, then an inner
/// IPv4/TCP probe frame of three 100-byte segments; UDP_TUNNEL_IPV4 | TCPV4 with NEEDS_CSUM at the
/// inner TCP header. The outer UDP checksum is zero.
fn tunnel_frame() -> (VnetHdr, Vec<u8>) {
    let inner = frame(false, PROTO_TCP, 300);
    let mut outer = probe_spec(false, PROTO_UDP, 0);
    outer.ip_options = vec![1; TUNNEL_OUTER_OPTIONS];
    outer.ip_options[TUNNEL_OUTER_OPTIONS - 1] = 0;
    let inner_nh = outer.l4_offset() + 8 + vnet_packet::TUNNEL_HDR.len();
    let hdr = VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type: GsoType(GsoType::UDP_TUNNEL_IPV4.0 | GsoType::TCPV4.0),
        gso_size: 100,
        csum_start: (inner_nh + 20) as u16,
        csum_offset: 16,
        outer_th_offset: outer.l4_offset() as u16,
        inner_nh_offset: inner_nh as u16,
        ..VnetHdr::default()
    };
    (hdr, outer.encapsulate(&inner))
}

/// The probe packets' IPv4 destination: behind the segmenter's B side.
const PROBE_DST4: [u8; 4] = [198, 51, 100, 1];

/// A probe packet: an IPv4 or IPv6 header from the documentation ranges the segmenter routes,
/// then TCP (seq 1, ack 1, ACK, window 65535) or UDP, 40000 -> 4789, IPv4 ID 1, and `payload`
/// zero bytes; every checksum is right (GRO verifies them).
fn probe_spec(v6: bool, proto: u8, payload: usize) -> PacketSpec {
    let mut s = match (v6, proto == PROTO_TCP) {
        (false, true) => PacketSpec::tcp4(payload),
        (false, false) => PacketSpec::udp4(payload),
        (true, true) => PacketSpec::tcp6(payload),
        (true, false) => PacketSpec::udp6(payload),
    };
    if !v6 {
        s.dst[..4].copy_from_slice(&PROBE_DST4);
    }
    (s.src_port, s.dst_port, s.ip_id) = (40000, 4789, 1);
    s.payload = vec![0; payload];
    if let L4::Tcp { .. } = s.l4 {
        s.l4 = L4::Tcp {
            seq: 1,
            ack: 1,
            flags: tcp_flags::ACK,
            window: 0xffff,
        };
    }
    s
}

/// [`probe_spec`], built.
fn frame(v6: bool, proto: u8, payload: usize) -> Vec<u8> {
    probe_spec(v6, proto, payload).build()
}

/// A TCP/IPv4 segment of the GRO probes: `seq`, `flags`, IPv4 ID `id`, DF as given, source port
/// `port`, 100 zero bytes of payload.
fn gro_segment(port: u16, seq: u32, flags: u8, id: u16, df: bool) -> Vec<u8> {
    let mut s = probe_spec(false, PROTO_TCP, 100);
    s.l4 = L4::Tcp {
        seq,
        ack: 1,
        flags,
        window: 0xffff,
    };
    (s.src_port, s.ip_id, s.df) = (port, id, df);
    s.build()
}

/// The IPv6/TCP probe frame of `payload` bytes with an 8-byte destination-options header (PadN)
/// after its fixed header.
fn with_destination_options(payload: usize) -> Vec<u8> {
    let mut s = probe_spec(true, PROTO_TCP, payload);
    s.v6_ext = vec![v6_dest_opts(8)];
    s.build()
}

/// The running kernel's release (`uname -r`), or `unknown` where it cannot be read.
pub fn release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

impl Probed {
    /// One JSON object: the release, the profile's name (`null` if unknown) and every fact.
    pub fn to_json(&self) -> String {
        let name = self
            .name
            .map_or_else(|| "null".to_owned(), |n| format!("\"{n}\""));
        let facts: Vec<String> = self
            .profile
            .facts()
            .iter()
            .map(|f| format!("\"{}\":{}", f.name, f.value))
            .collect();
        format!(
            "{{\"release\":\"{}\",\"profile\":{name},\"facts\":{{{}}}}}",
            release(),
            facts.join(",")
        )
    }
}

/// The named profiles side by side as a Markdown table, one row per fact (the README's "Kernels"
/// table is this text, checked by a test).
pub fn profile_table() -> String {
    use vnet_core::kernel::PROFILES;
    let mut out = String::from("| fact | rule |");
    for (name, _) in PROFILES {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(PROFILES.len()));
    for (i, fact) in Profile::NEWEST.facts().iter().enumerate() {
        out.push_str(&format!("\n| `{}` | {} |", fact.name, fact.rule));
        for (_, profile) in PROFILES {
            out.push_str(&format!(" {} |", profile.facts()[i].value));
        }
    }
    out.push('\n');
    out
}
