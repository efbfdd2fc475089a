//! Batched I/O on a device with offloads on: one read of a GSO super-packet becomes many
//! wire-sized packets (core's `gso`), and a batch of received packets becomes a few super-packets
//! written with their headers (core's `gro`). The packet logic is vnet-core's; this module only
//! moves bytes, in the quinn-udp style of "one syscall, many packets".

use vnet_core::check::GsoRequest;
use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::gro::{Gro, GroOptions, LINUX_HELD_FLOWS, Output};
use vnet_core::gso::{self, GsoError, GsoOptions, IovecPlan};
use vnet_core::hdr::VnetHdr;

use crate::fastsum::FastSum;
use crate::{Device, Error, Result};

/// What one read from a device with offloads on gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// One packet of `len` bytes in the read buffer, ready for the wire (a partial checksum, if
    /// it had one, completed in place).
    Whole {
        /// Its length.
        len: usize,
    },
    /// A super-packet split into `count` packets, back to back in the output buffer (`len`
    /// bytes in all), each `stride` bytes long except the last: the shape `sendmsg` takes with
    /// `UDP_SEGMENT`.
    Segments {
        /// Bytes written into the output buffer.
        len: usize,
        /// Length of every packet but the last.
        stride: usize,
        /// How many packets.
        count: usize,
    },
}

/// Makes one (header, packet) pair handed over by the kernel ready for the wire: a super-packet
/// is segmented into `out` (which must hold every segment: 64 KiB plus the headers of each
/// segment is always enough), a partial checksum is completed in place. Checksums use the
/// fastest sum this CPU has ([`FastSum`]). [`split_iov`] does the same without copying payload.
pub fn split(hdr: &VnetHdr, pkt: &mut [u8], out: &mut [u8]) -> Result<Received> {
    let len = pkt.len();
    let summer = FastSum::detect();
    let Some(req) = whole_or_request(hdr, pkt, summer)? else {
        return Ok(Received::Whole { len });
    };
    let packed = gso::segment_packed_with(&req, pkt, &GsoOptions::default(), out, summer)?;
    Ok(Received::Segments {
        len: packed.size,
        stride: packed.segment_size,
        count: packed.count,
    })
}

/// Room kept around each packet in the output of [`split_with_room`]: `head` bytes before it (a
/// VPN's own header) and `tail` bytes after it (an authentication tag), so that the packet can be
/// sealed where it lies, with no second copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Room {
    /// Bytes before each packet.
    pub head: usize,
    /// Bytes after each packet.
    pub tail: usize,
}

/// Where [`split_with_room`] put the packets: packet `i` is `out[self.packet(i)]`, with
/// [`Room::head`] bytes before it and [`Room::tail`] after it that vnet did not write, at a
/// stride of [`Spaced::slot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spaced {
    /// How many packets (1 for a packet that went whole).
    pub count: usize,
    /// Length of every packet but the last.
    pub segment_size: usize,
    /// Length of the last packet.
    pub last_len: usize,
    /// The room around each.
    pub room: Room,
}

impl Spaced {
    /// The distance from one packet's room to the next: head + segment size + tail (saturating).
    pub fn slot(&self) -> usize {
        self.room
            .head
            .saturating_add(self.segment_size)
            .saturating_add(self.room.tail)
    }

    /// The bytes of `out` that hold packet `index`, room excluded; `None` past the last (or for a
    /// layout beyond the address space, which [`split_with_room`] never returns).
    pub fn packet(&self, index: usize) -> Option<std::ops::Range<usize>> {
        let len = self.len_of(index)?;
        let start = index
            .checked_mul(self.slot())?
            .checked_add(self.room.head)?;
        Some(start..start.checked_add(len)?)
    }

    /// Packet `index` with its room: head, packet, tail.
    pub fn with_room(&self, index: usize) -> Option<std::ops::Range<usize>> {
        let packet = self.packet(index)?;
        Some(packet.start - self.room.head..packet.end.checked_add(self.room.tail)?)
    }

    /// Every packet's range, in order.
    pub fn packets(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        (0..self.count).filter_map(|i| self.packet(i))
    }

    /// The bytes of `out` used, the last tail included.
    pub fn len(&self) -> usize {
        self.with_room(self.count.wrapping_sub(1))
            .map_or(0, |last| last.end)
    }

    /// Whether no packet was placed (never the case for an `Ok` of [`split_with_room`]).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn len_of(&self, index: usize) -> Option<usize> {
        match index.checked_add(1)?.cmp(&self.count) {
            std::cmp::Ordering::Less => Some(self.segment_size),
            std::cmp::Ordering::Equal => Some(self.last_len),
            std::cmp::Ordering::Greater => None,
        }
    }
}

/// [`split`] for a VPN: every packet of the pair lands in `out` with `room.head` bytes free before
/// it and `room.tail` bytes free after it (S7), packet `i` at `i * slot + head` (see [`Spaced`]),
/// so the tunnel writes its header and tag around each and sends it without another copy. The
/// room's bytes are never written. A packet that goes whole (its partial checksum completed in
/// place) is copied into `out` too, so that every packet is found the same way; to spare that
/// copy, read into a buffer that already has the room and call [`split`]. The segment bytes are
/// exactly [`split`]'s (law L12). `out` must hold `len()` bytes of the answer: checked before
/// anything is written (S5), else [`Error::Core`] with `GsoError::BufferTooSmall`.
pub fn split_with_room(
    hdr: &VnetHdr,
    pkt: &mut [u8],
    out: &mut [u8],
    room: Room,
) -> Result<Spaced> {
    let summer = FastSum::detect();
    let Some(req) = whole_or_request(hdr, pkt, summer)? else {
        let spaced = Spaced {
            count: 1,
            segment_size: pkt.len(),
            last_len: pkt.len(),
            room,
        };
        fits(&spaced, out.len())?;
        let at = spaced.packet(0).unwrap_or_default();
        out.get_mut(at).unwrap_or_default().copy_from_slice(pkt);
        return Ok(spaced);
    };
    let mut segmenter = gso::Segmenter::with_summer(&req, pkt, &GsoOptions::default(), summer)?;
    let count = segmenter.segment_count();
    let spaced = Spaced {
        count,
        segment_size: segmenter.max_segment_len(),
        last_len: segmenter.segment_len(count.saturating_sub(1)).unwrap_or(0),
        room,
    };
    fits(&spaced, out.len())?;
    for at in spaced.packets() {
        let dst = out.get_mut(at).unwrap_or_default();
        match segmenter.next_into(dst) {
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.into()),
            None => break,
        }
    }
    Ok(spaced)
}

/// S5 for [`split_with_room`]: the whole layout fits `have` bytes, or nothing is written.
fn fits(spaced: &Spaced, have: usize) -> Result<()> {
    // A room so large that the layout passes the address space is an error, not a wrap-around.
    let need = spaced
        .with_room(spaced.count.wrapping_sub(1))
        .map_or(usize::MAX, |last| last.end);
    if need > have {
        return Err(Error::from(GsoError::BufferTooSmall {
            index: 0,
            need,
            have,
        }));
    }
    Ok(())
}

/// `check` on one (header, packet) pair: `None` when the packet goes as it is (a partial
/// checksum completed in place), else the segmentation it asks for.
fn whole_or_request(hdr: &VnetHdr, pkt: &mut [u8], summer: FastSum) -> Result<Option<GsoRequest>> {
    match check::check(hdr, pkt, &CheckOptions::default())? {
        Offload::Plain => Ok(None),
        Offload::Checksum(req) => {
            gso::complete_checksum_with(pkt, req, summer)?;
            Ok(None)
        }
        Offload::Segment(req) => Ok(Some(req)),
    }
}

/// The datagrams [`split_iov`] made of one (header, packet) pair, as pieces it pushed onto the
/// caller's list: the shape of one [`crate::udp::TransmitIov`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Train {
    /// Bytes of all datagrams.
    pub len: usize,
    /// Length of every datagram but the last (which may be shorter); the packet's length when
    /// it is one datagram.
    pub segment_size: usize,
    /// How many datagrams.
    pub count: usize,
    /// Payload bytes vnet copied: 0, except for UFO (which the iovec form refuses: its
    /// fragments are written by the copying form into `out`, headers included).
    pub copied: usize,
}

/// [`split`] without copying payload (S6): a super-packet's segment headers are written into
/// `headers` (packed: each segment's headers right after the previous one's) and
/// `pieces` gets, per segment, its headers and its payload as slices of `pkt`: header, payload,
/// header, payload, ..., ready for one `sendmsg` with UDP_SEGMENT
/// ([`crate::udp::BatchSocket::send_batch_iov`]). Every datagram but the last is
/// [`Train::segment_size`] bytes (headers plus the segment size), as UDP_SEGMENT needs. A packet
/// that goes whole (its partial checksum completed in place) is one piece, `pkt` itself. UFO,
/// which the iovec form refuses, is segmented by the copying form into `out` (one piece) as
/// [`split`] does. A `headers` buffer too small for every segment's headers (segments times
/// header length: 45 x 52 bytes for 65,000 bytes of TCPv4 at MSS 1448) is an error
/// ([`Error::Core`], nothing pushed); a buffer that [`split`]'s `out` would fit always does.
pub fn split_iov<'a>(
    hdr: &VnetHdr,
    pkt: &'a mut [u8],
    headers: &'a mut [u8],
    out: &'a mut [u8],
    pieces: &mut Vec<&'a [u8]>,
) -> Result<Train> {
    let len = pkt.len();
    let summer = FastSum::detect();
    let req = whole_or_request(hdr, pkt, summer)?;
    let pkt: &'a [u8] = pkt;
    let Some(req) = req else {
        pieces.push(pkt);
        return Ok(Train {
            len,
            segment_size: len.max(1),
            count: 1,
            copied: 0,
        });
    };
    let whole = [pkt];
    let opts = GsoOptions::default();
    match IovecPlan::new(&req, &whole, &opts) {
        Ok(plan) => {
            let stride = plan.header_len();
            plan.write_headers_with(headers, stride, summer)?;
            let headers: &'a [u8] = headers;
            for (header, payload) in plan.segments(headers, stride) {
                pieces.push(header);
                pieces.extend(payload);
            }
            Ok(Train {
                len: plan.total_len(),
                segment_size: plan.max_segment_len(),
                count: plan.segment_count(),
                copied: 0,
            })
        }
        Err(GsoError::Unsupported(_)) => {
            let packed = gso::segment_packed_with(&req, pkt, &opts, out, summer)?;
            let out: &'a [u8] = out;
            pieces.push(out.get(..packed.size).unwrap_or_default());
            Ok(Train {
                len: packed.size,
                segment_size: packed.segment_size,
                count: packed.count,
                copied: packed.size,
            })
        }
        Err(err) => Err(err.into()),
    }
}

impl Device {
    /// Batched receive: one read into `buf`; a GSO super-packet is split by core's gso into
    /// `out`, a partial checksum completed in place (see [`split`]). To hand the super-packet up
    /// whole instead, use [`Device::recv`].
    pub fn recv_split(&self, buf: &mut [u8], out: &mut [u8]) -> Result<Received> {
        let (hdr, len) = self.recv(buf)?;
        split(&hdr, buf.get_mut(..len).unwrap_or_default(), out)
    }

    /// Batched receive for a tunnel: one read into `buf`, its packets placed in `out` with
    /// `room` around each (see [`split_with_room`]).
    pub fn recv_split_with_room(
        &self,
        buf: &mut [u8],
        out: &mut [u8],
        room: Room,
    ) -> Result<Spaced> {
        let (hdr, len) = self.recv(buf)?;
        split_with_room(&hdr, buf.get_mut(..len).unwrap_or_default(), out, room)
    }
}

/// Coalesces batches of received packets with core's gro (Linux policy by default), with its
/// output slots allocated once and the fastest sum this CPU has ([`FastSum`]).
#[derive(Debug)]
pub struct Coalescer {
    gro: Gro<LINUX_HELD_FLOWS, FastSum>,
    out: Vec<Output>,
    owner: Vec<usize>,
}

impl Coalescer {
    /// For batches of at most `batch` packets.
    pub fn new(batch: usize, opts: GroOptions) -> Self {
        Self {
            gro: Gro::with_summer(opts, FastSum::detect()),
            out: vec![Output::default(); batch],
            owner: vec![0; batch],
        }
    }

    /// Coalesces `bufs[i][..lens[i]]` in place and returns the packets to write, in order:
    /// `out.len` bytes of `bufs[out.index]` with `out.hdr`, carrying `out.segments` packets. The
    /// rest of each buffer is room for a merged packet to grow.
    pub fn coalesce<B: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        lens: &[usize],
    ) -> Result<&[Output]> {
        let n = self
            .gro
            .coalesce(bufs, lens, &mut self.out, &mut self.owner)?;
        Ok(self.out.get(..n).unwrap_or_default())
    }
}

impl Device {
    /// Batched send: coalesces the batch `bufs[i][..lens[i]]` and writes the few packets that
    /// result, each with its header. Returns how many writes were made.
    pub fn send_coalesced<B: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        coalescer: &mut Coalescer,
        bufs: &mut [B],
        lens: &[usize],
    ) -> Result<usize> {
        let outputs = coalescer.coalesce(bufs, lens)?;
        for (hdr, pkt) in merged_packets(outputs, bufs) {
            self.send(hdr, pkt)?;
        }
        Ok(outputs.len())
    }
}

/// The packets a coalescing left, each as its header and its bytes in `bufs` (the buffer
/// [`Output::index`] names, up to [`Output::len`]); both senders write these.
pub(crate) fn merged_packets<'a, B: AsRef<[u8]>>(
    outputs: &'a [Output],
    bufs: &'a [B],
) -> impl Iterator<Item = (&'a VnetHdr, &'a [u8])> {
    outputs.iter().map(|o| {
        let pkt = bufs.get(o.index).and_then(|b| b.as_ref().get(..o.len));
        (&o.hdr, pkt.unwrap_or_default())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vnet_core::hdr::{Flags, GsoType};
    use vnet_spec::packet::PacketSpec;
    use vnet_spec::strategy::packet::{csum_header, gso_header};

    /// The datagrams of a train: `pieces` gathered, cut at `segment_size`.
    fn datagrams(pieces: &[&[u8]], segment_size: usize) -> Vec<Vec<u8>> {
        pieces
            .concat()
            .chunks(segment_size)
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// The copying split's datagrams for the same pair.
    fn copied(hdr: &VnetHdr, pkt: &[u8]) -> Vec<Vec<u8>> {
        let mut pkt = pkt.to_vec();
        let mut out = vec![0u8; 4 << 16];
        match split(hdr, &mut pkt, &mut out).unwrap() {
            Received::Whole { len } => vec![pkt[..len].to_vec()],
            Received::Segments { len, stride, .. } => {
                out[..len].chunks(stride).map(<[u8]>::to_vec).collect()
            }
        }
    }

    /// TCPv4, TCPv6 and USO super-packets: split_iov's train is split's datagrams byte for
    /// byte, header, payload, header, payload, ... with every payload a slice of the packet
    /// (nothing copied) and every datagram but the last `segment_size` bytes.
    #[test]
    fn split_iov_equals_split_without_copying_payload() {
        for (spec, gso_size) in [
            (PacketSpec::tcp4(65_000), 1448u16),
            (PacketSpec::tcp6(30_001), 1220),
            (PacketSpec::udp4(9_000), 1000),
            (PacketSpec::tcp4(100), 1448),
        ] {
            let pkt = spec.build_partial();
            let hdr = gso_header(&spec, gso_size);
            let want = copied(&hdr, &pkt);
            let mut input = pkt.clone();
            let mut headers = vec![0u8; 1 << 16];
            let mut out = vec![0u8; 0];
            let mut pieces = Vec::new();
            let range = input.as_ptr_range();
            let train = split_iov(&hdr, &mut input, &mut headers, &mut out, &mut pieces).unwrap();
            assert_eq!(train.copied, 0);
            assert_eq!(train.count, want.len());
            assert_eq!(train.len, pieces.iter().map(|p| p.len()).sum::<usize>());
            if train.count == 1 && pieces.len() == 1 {
                // One segment's worth: `check` asks for the checksum only; the packet goes whole.
                assert_eq!(pieces[0].as_ptr_range(), range);
            } else {
                assert_eq!(pieces.len(), 2 * train.count, "header, payload per segment");
                for payload in pieces.iter().skip(1).step_by(2) {
                    assert!(range.contains(&payload.as_ptr()), "payload is the packet's");
                }
            }
            let got = datagrams(&pieces, train.segment_size);
            assert!(
                got[..got.len() - 1]
                    .iter()
                    .all(|d| d.len() == train.segment_size)
            );
            assert_eq!(got, want);
        }
    }

    /// A packet asking only for a checksum is one piece, the packet itself, completed in place.
    #[test]
    fn split_iov_checksum_only_is_the_packet() {
        let spec = PacketSpec::tcp4(500);
        let mut pkt = spec.build_partial();
        let hdr = csum_header(&spec);
        let want = copied(&hdr, &pkt);
        let (mut headers, mut out, mut pieces) = (vec![0u8; 64], vec![], Vec::new());
        let train = split_iov(&hdr, &mut pkt, &mut headers, &mut out, &mut pieces).unwrap();
        assert_eq!((train.count, train.copied, pieces.len()), (1, 0, 1));
        assert_eq!(pieces[0], &want[0][..]);
        assert_eq!(want[0], spec.build());
    }

    /// UFO, refused by the iovec form, goes through the copying form into `out`.
    #[test]
    fn split_iov_ufo_is_copied() {
        let pkt = PacketSpec::udp4(3000).build_partial();
        let hdr = VnetHdr {
            flags: Flags::EMPTY,
            gso_type: GsoType::UDP,
            gso_size: 1000,
            ..VnetHdr::default()
        };
        let want = copied(&hdr, &pkt);
        let mut input = pkt.clone();
        let (mut headers, mut out, mut pieces) = (vec![0u8; 64], vec![0u8; 1 << 16], Vec::new());
        let train = split_iov(&hdr, &mut input, &mut headers, &mut out, &mut pieces).unwrap();
        assert_eq!(pieces.len(), 1);
        assert_eq!(train.copied, train.len);
        assert_eq!(datagrams(&pieces, train.segment_size), want);
    }

    /// Headers that do not fit are an error with nothing pushed.
    #[test]
    fn split_iov_short_header_buffer_is_an_error() {
        let spec = PacketSpec::tcp4(10_000);
        let mut pkt = spec.build_partial();
        let hdr = gso_header(&spec, 1000);
        let (mut headers, mut out, mut pieces) = (vec![0u8; 100], vec![], Vec::new());
        let err = split_iov(&hdr, &mut pkt, &mut headers, &mut out, &mut pieces);
        assert!(
            matches!(err, Err(Error::Core(vnet_core::Error::Gso(_)))),
            "{err:?}"
        );
        assert!(pieces.is_empty());
    }
}
