//! tun-rs as an implementation under test: the laws' traits ([`Segment`], [`Coalesce`],
//! [`Sum`], [`Complete`], [`HeaderCodec`]) implemented by calling tun-rs's public functions the way its
//! own device code calls them (`DeviceImpl::handle_virtio_read` → `gso_split`,
//! `DeviceImpl::send_multiple` → `handle_gro`), so that `tests/peer_laws.rs` can run the laws on
//! it. Nothing of tun-rs is copied: only the mapping between its types and vnet's is written here.
//!
//! What tun-rs's API cannot express is refused with an `Err` (or, where the trait has no error
//! path, a panic naming the missing function); the peer's strategies avoid those cases and
//! `spec/PEERS.md` lists them.

use tun_rs::{VIRTIO_NET_HDR_LEN, VirtioNetHdr};
use vnet_core::gro::{GroOptions, Policy};
use vnet_core::gso::GsoOptions;
use vnet_core::hdr::{Endian, Flags, GsoType, HdrError, Layout, VnetHdr};
use vnet_core::wire::{self, IpProtocol, IpVersion, Link};
use vnet_spec::laws::csum::{Complete, Sum};
use vnet_spec::laws::gro::Coalesce;
use vnet_spec::laws::gso::{Segment, Transmitted};
use vnet_spec::laws::hdr::{HeaderCodec, Read, Written};
use vnet_spec::model::gro::Coalesced;

/// tun-rs (crate `tun-rs` 2, Linux offload module).
#[derive(Clone, Copy, Debug, Default)]
pub struct TunRs;

/// vnet's header as tun-rs's 10-byte `VirtioNetHdr` (the fields it has).
pub fn to_tun_rs(h: &VnetHdr) -> VirtioNetHdr {
    VirtioNetHdr {
        flags: h.flags.0,
        gso_type: h.gso_type.0,
        hdr_len: h.hdr_len,
        gso_size: h.gso_size,
        csum_start: h.csum_start,
        csum_offset: h.csum_offset,
    }
}

/// tun-rs's `VirtioNetHdr` as vnet's header (the fields a 10-byte header has; the rest zero).
pub fn from_tun_rs(h: &VirtioNetHdr) -> VnetHdr {
    VnetHdr {
        flags: Flags(h.flags),
        gso_type: GsoType(h.gso_type),
        hdr_len: h.hdr_len,
        gso_size: h.gso_size,
        csum_start: h.csum_start,
        csum_offset: h.csum_offset,
        ..VnetHdr::default()
    }
}

impl Segment for TunRs {
    fn name(&self) -> &'static str {
        "tun-rs"
    }

    /// `gso_split(input, hdr, bufs, sizes, 0, is_v6)`, with `is_v6` from the IP version nibble as
    /// `handle_virtio_read` derives it. Only TUN framing and the GSO types tun-rs knows (TCPV4,
    /// TCPV6, UDP_L4, ECN): a GSO_NONE packet never reaches `gso_split` in tun-rs (its
    /// NEEDS_CSUM completion, `gso_none_checksum`, is not public).
    fn segment(&self, hdr: &VnetHdr, pkt: &[u8], opts: &GsoOptions) -> Transmitted {
        if opts.link != Link::Tun {
            return Err("tun-rs: TUN framing only".into());
        }
        if hdr.gso_type == GsoType::NONE {
            return Err("tun-rs: GSO_NONE is not handled by a public function".into());
        }
        let is_v6 = match pkt.first().map(|b| b >> 4) {
            Some(4) => false,
            Some(6) => true,
            _ => return Err("tun-rs: not IPv4 or IPv6".into()),
        };
        let hdr_len = usize::from(hdr.hdr_len).min(pkt.len());
        let gso = usize::from(hdr.gso_size).max(1);
        let payload = pkt.len() - hdr_len;
        let count = payload.div_ceil(gso).max(1);
        let seg_max = (hdr_len + gso).min(pkt.len());
        let mut input = pkt.to_vec();
        let mut out = vec![vec![0u8; seg_max]; count];
        let mut sizes = vec![0usize; count];
        let n = tun_rs::gso_split(&mut input, to_tun_rs(hdr), &mut out, &mut sizes, 0, is_v6)
            .map_err(|e| format!("tun-rs: {e}"))?;
        Ok(out
            .into_iter()
            .zip(sizes)
            .take(n)
            .map(|(mut b, len)| {
                b.truncate(len);
                b
            })
            .collect())
    }
}

/// tun-rs's GRO: `handle_gro` (what `send_multiple` runs) over one batch, with fresh tables.
///
/// Every packet sits in a `Vec` of `capacity` bytes behind `VIRTIO_NET_HDR_LEN` bytes of 0xFF
/// (tun-rs writes the header of what it hands over; 0xFF makes a header it forgot visible).
/// tun-rs merges into a buffer only while `2 * offset + merged length <= capacity`, so the
/// capacity is the caller's bound on the merged size.
#[derive(Clone, Copy, Debug)]
pub struct TunRsGro {
    /// Bytes each buffer can hold (header room included).
    pub capacity: usize,
    /// `can_udp_gro`.
    pub udp: bool,
}

impl TunRsGro {
    /// Buffers of `VIRTIO_NET_HDR_LEN + 65535` bytes, as tun-rs's own receive path allocates.
    pub fn new(udp: bool) -> Self {
        TunRsGro {
            capacity: VIRTIO_NET_HDR_LEN + 65535,
            udp,
        }
    }
}

/// (IP version, addresses, protocol, ports) of a TUN packet, and where its payload starts.
fn flow_of(p: &[u8]) -> Option<(Vec<u8>, usize, u32)> {
    let h = wire::parse_headers(p, Link::Tun).ok()?;
    let ip = p.get(h.l3_offset..)?;
    let l4 = p.get(h.l4_offset..)?;
    let mut key = match h.ip {
        IpVersion::V4 => ip.get(12..20)?.to_vec(),
        IpVersion::V6 => ip.get(8..40)?.to_vec(),
    };
    key.push(h.protocol.0);
    key.extend_from_slice(l4.get(..4)?);
    let (hl, seq) = if h.protocol == IpProtocol::TCP {
        let hl = usize::from(l4.get(12)? >> 4) * 4;
        (hl, u32::from_be_bytes(l4.get(4..8)?.try_into().ok()?))
    } else {
        (8, 0)
    };
    Some((key, h.l4_offset + hl, seq))
}

impl Coalesce for TunRsGro {
    fn name(&self) -> String {
        format!(
            "tun-rs handle_gro (buffers of {} bytes, udp {})",
            self.capacity, self.udp
        )
    }

    /// tun-rs follows wireguard-go: IPv4 IDs ignored, prepends allowed (vnet's `Relaxed`).
    fn options(&self) -> GroOptions {
        GroOptions {
            policy: Policy::Relaxed,
            udp: self.udp,
            ..GroOptions::default()
        }
    }

    /// The outputs are `to_write`'s buffers in its order, each with the header tun-rs wrote in
    /// front of it. tun-rs does not say which inputs a merged packet carries; they are read back
    /// from its bytes: the buffer's own input (tracked by its heap address, which a prepend swaps
    /// along) for a single, and for a merged packet, chunk by chunk of `gso_size`, the earliest
    /// unused input of the same flow (and, for TCP, the chunk's sequence number) whose payload is
    /// the chunk. A chunk that matches no input panics (the laws report it as a failure).
    fn coalesce(&self, batch: &[Vec<u8>]) -> Vec<Coalesced> {
        let mut bufs: Vec<Vec<u8>> = batch
            .iter()
            .map(|p| {
                let mut b = Vec::with_capacity(self.capacity.max(VIRTIO_NET_HDR_LEN + p.len()));
                b.resize(VIRTIO_NET_HDR_LEN, 0xFF);
                b.extend_from_slice(p);
                b
            })
            .collect();
        let addresses: Vec<*const u8> = bufs.iter().map(|b| b.as_ptr()).collect();
        let mut to_write = Vec::new();
        tun_rs::handle_gro(
            &mut bufs,
            VIRTIO_NET_HDR_LEN,
            &mut Default::default(),
            &mut Default::default(),
            self.udp,
            &mut to_write,
        )
        .unwrap_or_else(|e| panic!("tun-rs handle_gro: {e}"));
        let flows: Vec<Option<(Vec<u8>, usize, u32)>> = batch.iter().map(|p| flow_of(p)).collect();
        // Each output: its header, bytes, own input, and whether it is a merged packet.
        let raw: Vec<(VnetHdr, Vec<u8>, usize, bool)> = to_write
            .iter()
            .map(|&slot| {
                let buf = &bufs[slot];
                let th = VirtioNetHdr::decode(buf).expect("room for the header");
                let hdr = from_tun_rs(&th);
                let own = addresses
                    .iter()
                    .position(|&a| a == buf.as_ptr())
                    .unwrap_or(slot);
                let merged = matches!(
                    hdr.gso_type,
                    GsoType::TCPV4 | GsoType::TCPV6 | GsoType::UDP_L4
                ) && hdr.gso_size > 0;
                (hdr, buf[VIRTIO_NET_HDR_LEN..].to_vec(), own, merged)
            })
            .collect();
        // Singles first: a merged packet's chunks are then looked for among the other inputs.
        let mut used = vec![false; batch.len()];
        for (_, _, own, merged) in &raw {
            if !merged {
                used[*own] = true;
            }
        }
        let mut outs = Vec::with_capacity(raw.len());
        for (k, (hdr, bytes, own, merged)) in raw.into_iter().enumerate() {
            if !merged {
                outs.push((hdr, bytes, vec![own]));
                continue;
            }
            let (key, _, seq0) = flow_of(&bytes)
                .unwrap_or_else(|| panic!("tun-rs output {k} does not parse: {hdr:?}"));
            let body = bytes
                .get(usize::from(hdr.hdr_len)..)
                .unwrap_or_else(|| panic!("tun-rs output {k}: hdr_len past the end {hdr:?}"));
            let mut members = Vec::new();
            for (c, chunk) in body.chunks(usize::from(hdr.gso_size)).enumerate() {
                let seq = seq0.wrapping_add((c * usize::from(hdr.gso_size)) as u32);
                let tcp = hdr.gso_type != GsoType::UDP_L4;
                let fits = |i: usize| {
                    !used[i]
                        && flows[i].as_ref().is_some_and(|(k2, at, s)| {
                            *k2 == key && (!tcp || *s == seq) && batch[i][*at..] == *chunk
                        })
                };
                // The buffer's own input leads (a prepend swaps the buffers along).
                let m = (c == 0 && fits(own))
                    .then_some(own)
                    .or_else(|| (0..batch.len()).find(|&i| fits(i)))
                    .unwrap_or_else(|| {
                        panic!(
                            "tun-rs output {k} ({hdr:?}): payload chunk {c} ({} bytes) is no \
                             input's payload",
                            chunk.len()
                        )
                    });
                used[m] = true;
                members.push(m);
            }
            outs.push((hdr, bytes, members));
        }
        outs
    }
}

/// tun-rs's `checksum(data, initial)`: a folded, uncomplemented sum, seeded with `initial`. Its
/// users write `!checksum(..)` to finish and seed with `checksum(&[], a + b)` to combine at even
/// offsets; copy-and-sum, incremental update and the pseudo-header sums are not public in tun-rs,
/// so it implements [`Sum`] and [`Complete`] and not `Checksummer`: the laws that need more are
/// not run on it.
impl Sum for TunRs {
    fn sum(&self, data: &[u8]) -> u16 {
        tun_rs::checksum(data, 0)
    }
}

impl Complete for TunRs {
    fn combine_at(&self, a: u16, b: u16, offset: usize) -> u16 {
        assert!(
            offset.is_multiple_of(2),
            "tun-rs seeds sums only at even offsets"
        );
        tun_rs::checksum(&[], u64::from(a) + u64::from(b))
    }

    fn finish(&self, sum: u16) -> u16 {
        !sum
    }
}

fn only_legacy_native(layout: Layout, endian: Endian) {
    assert!(
        layout == Layout::Legacy && endian.resolve() == Endian::Native.resolve(),
        "tun-rs's VirtioNetHdr is the 10-byte layout in host byte order only"
    );
}

/// tun-rs's `VirtioNetHdr::decode` / `encode`: the 10-byte layout in host byte order (a
/// `repr(C)` copy), nothing else; other layouts and byte orders panic (not expressible).
impl HeaderCodec for TunRs {
    fn read<'a>(&self, bytes: &'a [u8], layout: Layout, endian: Endian) -> Read<'a> {
        only_legacy_native(layout, endian);
        let h = VirtioNetHdr::decode(bytes).map_err(|_| HdrError::Truncated {
            need: VIRTIO_NET_HDR_LEN,
            have: bytes.len(),
        })?;
        Ok((from_tun_rs(&h), &bytes[VIRTIO_NET_HDR_LEN..]))
    }

    fn write(&self, hdr: &VnetHdr, out: &mut [u8], layout: Layout, endian: Endian) -> Written {
        only_legacy_native(layout, endian);
        let have = out.len();
        to_tun_rs(hdr)
            .encode(out)
            .map_err(|_| HdrError::Truncated {
                need: VIRTIO_NET_HDR_LEN,
                have,
            })?;
        Ok(VIRTIO_NET_HDR_LEN)
    }
}
