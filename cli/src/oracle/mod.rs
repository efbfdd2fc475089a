//! The oracle: vnet's answers in a language-neutral form (hex in, one JSON object out per line),
//! so that an implementation in any language can diff itself against vnet. The `vnet` program's
//! `check`, `segment`, `coalesce`, `csum` and `inspect` subcommands are thin wrappers around these
//! functions; their output format is versioned (`"v"`), described in `cli/ORACLE.md` and fixed by
//! the JSON Schema `cli/schema/oracle.schema.json`.

mod answer;
pub mod capture;
mod coalesce;
pub mod hex;
mod inspect;
pub mod limits;
mod lines;
pub mod pcap;
pub mod pcapng;

pub use answer::{Answer, At, ErrorCode, Fields, InputError, SCHEMA_VERSION, fields};
pub use coalesce::{Coalesced, Coalescing, coalesce};
pub use inspect::inspect;
pub use lines::{Line, Lines, run_batches, run_lines};

use vnet_core::check::{self, CheckOptions, GsoKind, Offload};
use vnet_core::csum;
use vnet_core::gro::GroOptions;
use vnet_core::gso::{self, GsoOptions};
use vnet_core::hdr::{Endian, HdrError, Layout, VnetHdr};
use vnet_core::meta::{self, TxFlags, TxMetadata};
use vnet_core::wire::{self, IpProtocol, IpVersion, Ipv4Packet, Ipv6Packet, Link, TcpPacket};

use serde_json::Value;

/// How an input frame is laid out: a virtio-net header, then the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// The header layout (10, 12, 20 or 24 bytes).
    pub layout: Layout,
    /// The header's byte order.
    pub endian: Endian,
}

impl Default for Format {
    fn default() -> Format {
        Format {
            layout: Layout::V1,
            endian: Endian::Little,
        }
    }
}

/// The fields of a rejection: `{"v":1,"ok":false,"rule":"V3","error":"..."}`.
pub fn rejection(rule: &str, error: &str) -> Fields {
    let mut m = fields(false);
    m.insert("rule".into(), rule.into());
    m.insert("error".into(), error.into());
    m
}

/// Splits a frame into its header and packet; a frame shorter than its header is malformed.
pub fn split_frame<'a>(
    frame: &'a [u8],
    format: &Format,
) -> Result<(VnetHdr, &'a [u8]), InputError> {
    VnetHdr::read(frame, format.layout, format.endian).map_err(|e| hdr_error(&e))
}

fn hdr_error(e: &HdrError) -> InputError {
    InputError::new(ErrorCode::BadHeader, e.to_string())
}

/// `vnet check`: what [`check::check`] makes of one frame.
pub fn check_frame(frame: &[u8], format: &Format, opts: &CheckOptions) -> Answer {
    let (hdr, pkt) = match split_frame(frame, format) {
        Ok(split) => split,
        Err(e) => return e.into(),
    };
    Answer::Reply(match check::check(&hdr, pkt, opts) {
        Err(e) => rejection(e.rule(), &e.to_string()),
        Ok(Offload::Plain) => {
            let mut m = fields(true);
            m.insert("offload".into(), "plain".into());
            m
        }
        Ok(Offload::Checksum(c)) => {
            let mut m = fields(true);
            m.insert("offload".into(), "checksum".into());
            m.insert("csum_start".into(), c.start.into());
            m.insert("csum_offset".into(), c.offset.into());
            m
        }
        Ok(Offload::Segment(req)) => {
            let mut m = fields(true);
            m.insert("offload".into(), "segment".into());
            m.insert("kind".into(), kind_name(req.kind).into());
            m.insert("gso_size".into(), req.gso_size.into());
            m.insert("hdr_len".into(), req.hdr_len.into());
            m.insert("payload_len".into(), req.payload_len.into());
            let segments = req.payload_len.div_ceil(usize::from(req.gso_size));
            m.insert("segments".into(), segments.into());
            m.insert("tunnel".into(), req.tunnel.is_some().into());
            m
        }
    })
}

/// `vnet segment`: the packets a device puts on the wire for one frame: the packet itself, the
/// packet with its checksum completed (S4), or its segments (S1-S3).
pub fn segment_frame(frame: &[u8], format: &Format, opts: &CheckOptions) -> Answer {
    let (hdr, pkt) = match split_frame(frame, format) {
        Ok(split) => split,
        Err(e) => return e.into(),
    };
    Answer::Reply(match segment(&hdr, pkt, opts) {
        Ok(segments) => {
            let mut m = fields(true);
            let hexes = segments.iter().map(|s| Value::from(hex::encode(s)));
            m.insert("segments".into(), hexes.collect());
            m
        }
        Err(rejected) => rejected,
    })
}

/// The packets for one (header, packet) pair, or the fields of the rejection.
pub fn segment(hdr: &VnetHdr, pkt: &[u8], opts: &CheckOptions) -> Result<Vec<Vec<u8>>, Fields> {
    match check::check(hdr, pkt, opts) {
        Err(e) => Err(rejection(e.rule(), &e.to_string())),
        Ok(Offload::Plain) => Ok(vec![pkt.to_vec()]),
        Ok(Offload::Checksum(c)) => {
            let mut out = pkt.to_vec();
            gso::complete_checksum(&mut out, c).map_err(|e| gso_rejection(&e))?;
            Ok(vec![out])
        }
        Ok(Offload::Segment(req)) => {
            let gso_opts = GsoOptions {
                link: opts.link,
                kernel: opts.kernel,
                ..GsoOptions::default()
            };
            let mut segmenter =
                gso::Segmenter::new(&req, pkt, &gso_opts).map_err(|e| gso_rejection(&e))?;
            let mut segments = Vec::with_capacity(segmenter.segment_count());
            let mut buf = vec![0u8; segmenter.max_segment_len()];
            while let Some(len) = segmenter.next_into(&mut buf) {
                let len = len.map_err(|e| gso_rejection(&e))?;
                segments.push(buf[..len].to_vec());
            }
            Ok(segments)
        }
    }
}

fn gso_rejection(e: &gso::GsoError) -> Fields {
    rejection(e.rule(), &e.to_string())
}

/// `vnet coalesce`: [`coalesce`] as one JSON object, each header in `format`.
pub fn coalesce_batch(packets: &[Vec<u8>], format: &Format, opts: &GroOptions) -> Answer {
    match Coalescing::run(packets, opts) {
        Ok(coalesced) => coalesce_answer(&coalesced, format),
        Err(e) => Answer::malformed(ErrorCode::CoalesceFailed, e),
    }
}

/// The JSON answer for a coalesced batch, each header in `format`.
pub fn coalesce_answer(coalesced: &Coalescing, format: &Format) -> Answer {
    let mut items = Vec::with_capacity(coalesced.len());
    for (hdr, pkt, from) in coalesced.packets() {
        let mut bytes = [0u8; 24];
        let len = match hdr.write(&mut bytes, format.layout, format.endian) {
            Ok(len) => len,
            Err(e) => return hdr_error(&e).into(),
        };
        let mut item = Fields::new();
        let hdr = hex::encode(bytes.get(..len).unwrap_or_default());
        item.insert("hdr".into(), hdr.into());
        item.insert("pkt".into(), hex::encode(pkt).into());
        item.insert("from".into(), from.iter().copied().collect());
        items.push(Value::Object(item));
    }
    let mut m = fields(true);
    m.insert("packets".into(), Value::Array(items));
    Answer::Reply(m)
}

/// The header a sender would write for a captured IP packet to be segmented at `gso_size`: TCP or
/// UDP segmentation through [`meta::to_header`], with the pseudo-header sum put into the packet's
/// checksum field (C3) as NEEDS_CSUM requires. This is how `vnet segment --pcap-in` turns a capture
/// of super-packets (as tcpdump shows them on a device with TSO) into (header, packet) pairs.
pub fn header_for_capture(pkt: &mut [u8], gso_size: u16) -> Result<VnetHdr, String> {
    let h = wire::parse_headers(pkt, Link::Tun).map_err(|e| e.to_string())?;
    let l4 = pkt.get(h.l4_offset..).unwrap_or_default();
    let l4_total = l4.len();
    let (seg_flag, l4_len, csum_at) = match h.protocol {
        IpProtocol::TCP => {
            let tcp = TcpPacket::new_checked(l4).map_err(|e| e.to_string())?;
            (TxFlags::OFFLOAD_TCP_SEGMENTATION, tcp.header_len(), 16)
        }
        IpProtocol::UDP => (TxFlags::OFFLOAD_UDP_SEGMENTATION, 8, 6),
        other => return Err(format!("IP protocol {} is neither TCP nor UDP", other.0)),
    };
    let (version, pseudo) = match h.ip {
        IpVersion::V4 => {
            let ip = Ipv4Packet::new_unchecked(&pkt[..]);
            let len = u16::try_from(l4_total).map_err(|_| "packet too large".to_string())?;
            let sum = csum::pseudo_header_v4(ip.src_addr(), ip.dst_addr(), h.protocol.0, len);
            (TxFlags::IS_IPV4, sum)
        }
        IpVersion::V6 => {
            let ip = Ipv6Packet::new_unchecked(&pkt[..]);
            let sum = csum::pseudo_header_v6(
                &ip.src_addr(),
                &ip.dst_addr(),
                h.protocol.0,
                l4_total as u32,
            );
            (TxFlags::IS_IPV6, sum)
        }
    };
    let metadata = TxMetadata {
        flags: seg_flag.with(version),
        l2_len: 0,
        l3_len: h.l3_len as u16,
        l4_len: l4_len as u8,
        max_segment_size: gso_size,
        vlan: None,
    };
    let hdr = meta::to_header(&metadata).map_err(|e| e.to_string())?;
    if let Some(field) = pkt.get_mut(h.l4_offset + csum_at..h.l4_offset + csum_at + 2) {
        field.copy_from_slice(&pseudo.to_be_bytes());
    }
    Ok(hdr)
}

fn kind_name(kind: GsoKind) -> &'static str {
    match kind {
        GsoKind::Tcp => "tcp",
        GsoKind::Uso => "uso",
        GsoKind::Ufo => "ufo",
    }
}

/// `vnet csum`: the folded sum of the bytes and the checksum to store (its complement), in hex.
pub fn csum_line(data: &[u8]) -> Answer {
    let sum = csum::sum(data);
    let mut m = fields(true);
    m.insert("sum".into(), format!("{sum:04x}").into());
    m.insert(
        "checksum".into(),
        format!("{:04x}", csum::finish(sum)).into(),
    );
    m.insert("verifies".into(), csum::verify(data).into());
    Answer::Reply(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 12-byte LE header asking for TCP GSO (size 100, csum 20/16) + IPv4/TCP with 200 bytes.
    pub(super) fn tso_frame() -> Vec<u8> {
        let mut frame = vec![1, 1, 40, 0, 100, 0, 20, 0, 16, 0, 0, 0];
        frame.extend_from_slice(&ipv4_tcp_200(true));
        frame
    }

    /// A valid IPv4/TCP packet with 200 bytes of payload (seq, ack and window 0), from
    /// vnet-packet. With `seeded`, the TCP checksum field holds the pseudo-header sum, as
    /// NEEDS_CSUM asks (C3).
    fn ipv4_tcp_200(seeded: bool) -> Vec<u8> {
        let spec = vnet_packet::PacketSpec {
            l4: vnet_packet::L4::Tcp {
                seq: 0,
                ack: 0,
                flags: vnet_packet::tcp_flags::ACK,
                window: 0,
            },
            payload: vec![0x61; 200],
            ip_id: 1,
            ..vnet_packet::PacketSpec::tcp4(200)
        };
        if seeded {
            spec.build_partial()
        } else {
            spec.build()
        }
    }

    #[test]
    fn check_answers() {
        let format = Format::default();
        let opts = CheckOptions::default();
        let answer = check_frame(&tso_frame(), &format, &opts);
        assert_eq!(
            answer.to_json(None),
            r#"{"v":1,"ok":true,"offload":"segment","kind":"tcp","gso_size":100,"hdr_len":40,"payload_len":200,"segments":2,"tunnel":false}"#
        );
        let mut bad = tso_frame();
        bad[6] = 10; // csum_start 10: inside the IPv4 header
        assert_eq!(
            check_frame(&bad, &format, &opts).to_json(None),
            r#"{"v":1,"ok":false,"rule":"V3","error":"V3: csum_start 10 must be at least 20"}"#
        );
        let short = check_frame(&[1, 2, 3], &format, &opts);
        assert_eq!(
            short.to_json(Some(At::Line(4))),
            r#"{"v":1,"ok":false,"code":"bad_header","line":4,"message":"virtio-net header needs 12 bytes, buffer has 3"}"#
        );
    }

    #[test]
    fn segment_answers_and_coalesce_gives_them_back() {
        let format = Format::default();
        let answer = segment_frame(&tso_frame(), &format, &CheckOptions::default());
        let Answer::Reply(answer) = answer else {
            panic!("{answer:?}")
        };
        let segments: Vec<Vec<u8>> = answer["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| hex::decode(s.as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(segments.len(), 2);
        assert!(segments.iter().all(|s| s.len() == 140));
        let merged = coalesce_batch(&segments, &format, &GroOptions::default());
        // The merged packet is the super-packet, its pseudo-header sum in the TCP checksum field
        // (G6) as the sender had it.
        let pkt = hex::encode(&ipv4_tcp_200(true));
        let want = format!(
            r#"{{"v":1,"ok":true,"packets":[{{"hdr":"010128006400140010000000","pkt":"{pkt}","from":[0,1]}}]}}"#
        );
        assert_eq!(merged.to_json(None), want);
    }

    #[test]
    fn a_captured_super_packet_gets_the_header_a_sender_would_write() {
        let mut pkt = ipv4_tcp_200(false);
        let hdr = header_for_capture(&mut pkt, 100).unwrap();
        assert_eq!(pkt, ipv4_tcp_200(true));
        let mut frame = vec![0u8; 12];
        hdr.write(&mut frame, Layout::V1, Endian::Little).unwrap();
        assert_eq!(frame[..10], tso_frame()[..10]);
        frame.extend_from_slice(&pkt);
        let segments = segment(&hdr, &pkt, &CheckOptions::default()).unwrap();
        assert_eq!(segments.len(), 2);
        // The same segments as from the frame built by hand.
        let (h2, p2) = split_frame(&tso_frame(), &Format::default())
            .map(|(h, p)| (h, p.to_vec()))
            .unwrap();
        let by_hand = segment(&h2, &p2, &CheckOptions::default()).unwrap();
        assert_eq!(segments, by_hand);
        let mut udp = ipv4_tcp_200(false);
        udp[9] = 99;
        assert!(
            header_for_capture(&mut udp, 100)
                .unwrap_err()
                .contains("neither TCP nor UDP")
        );
    }
}
