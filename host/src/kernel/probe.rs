//! Which [`Profile`] the running kernel follows, found by asking it: a few frames, each chosen so
//! that kernels differing in one fact give different verdicts, are written into a TUN device in a
//! throw-away namespace (root). Never by the version string: two builds of one version can differ
//! (K15).

use std::io;

use vnet_core::hdr::{Flags, GsoType, Layout, VnetHdr};
use vnet_core::kernel::Profile;

use super::KernelSegmenter;

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
/// The largest TCP GSO-size minimum the K19 probe looks for (the kernel's is 8).
const TCP_MIN_PROBE_MAX: u16 = 256;

/// Probes the running kernel (needs root and `/dev/net/tun`). Each fact is one question whose
/// control frame must be accepted, so that a refusal is the fact's and not the frame's.
pub fn probe() -> io::Result<Probed> {
    let seg = KernelSegmenter::new()?;
    let accepts = |hdr: &VnetHdr, pkt: &[u8]| accepts_on(&seg, hdr, pkt);
    let control = |hdr: &VnetHdr, pkt: &[u8], what: &str| control_on(&seg, hdr, pkt, what);

    // K15: TCPV6 over an IPv4/UDP packet without NEEDS_CSUM, its payload within one segment.
    // Without dissection it is a plain packet (V5); a dissecting kernel reads IPv4 bytes as IPv6,
    // finds no TCP and refuses it.
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
/// destination, UDP to port 4789, an 8-byte VXLAN-shaped header, then an inner IPv4/TCP probe
/// frame of three 100-byte segments; UDP_TUNNEL_IPV4 | TCPV4 with NEEDS_CSUM at the inner TCP
/// header. Checksums are left zero, as in [`frame`].
fn tunnel_frame() -> (VnetHdr, Vec<u8>) {
    let inner = frame(false, PROTO_TCP, 300);
    let ihl = 20 + TUNNEL_OUTER_OPTIONS;
    let udp_len = 8 + 8 + inner.len();
    let total = (ihl + udp_len) as u16;
    let mut p = vec![0x40 | (ihl / 4) as u8, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, PROTO_UDP, 0, 0]);
    p.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 1]);
    p.extend_from_slice(&[1; TUNNEL_OUTER_OPTIONS - 1]);
    p.push(0);
    let sum = vnet_core::csum::finish(vnet_core::csum::sum(&p));
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&[0x9c, 0x40, 0x12, 0xb5]);
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x08, 0, 0, 0, 0, 0xab, 0xcd, 0]);
    let inner_nh = p.len();
    p.extend_from_slice(&inner);
    let hdr = VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type: GsoType(GsoType::UDP_TUNNEL_IPV4.0 | GsoType::TCPV4.0),
        gso_size: 100,
        csum_start: (inner_nh + 20) as u16,
        csum_offset: 16,
        outer_th_offset: ihl as u16,
        inner_nh_offset: inner_nh as u16,
        ..VnetHdr::default()
    };
    (hdr, p)
}

/// A probe frame: an IPv4 or IPv6 header from the documentation ranges the segmenter routes,
/// then a TCP or UDP header with consistent lengths and `payload` zero bytes. Checksums are left
/// zero: every probe asks only whether a write is accepted, which they do not decide.
fn frame(v6: bool, proto: u8, payload: usize) -> Vec<u8> {
    let l4 = if proto == PROTO_TCP { 20 } else { 8 } + payload;
    let mut p = Vec::with_capacity(40 + l4);
    if v6 {
        p.extend_from_slice(&[0x60, 0, 0, 0]);
        p.extend_from_slice(&(l4 as u16).to_be_bytes());
        p.extend_from_slice(&[proto, 64]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    } else {
        let total = (20 + l4) as u16;
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
        p.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 1]);
        let sum = vnet_core::csum::finish(vnet_core::csum::sum(&p));
        p[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    p.extend_from_slice(&[0x9c, 0x40, 0x12, 0xb5]);
    if proto == PROTO_TCP {
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        p.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
    }
    p.resize(p.len() + payload, 0);
    p
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
