use std::vec;
use std::vec::Vec;

use super::*;
use crate::check::fixtures::{gso_hdr as hdr, tcp4_with_options, with_dest_opts};
use crate::check::{CheckOptions, Offload, check};
use crate::hdr::{Flags, GsoType, VnetHdr};
use vnet_packet::{L4, PacketSpec, v6_dest_opts};

fn request(h: &VnetHdr, pkt: &[u8], link: Link) -> GsoRequest {
    let opts = CheckOptions::DEFAULT.with_link(link);
    match check(h, pkt, &opts) {
        Ok(Offload::Segment(req)) => req,
        other => panic!("expected a GSO request, got {other:?}"),
    }
}

fn opts(link: Link) -> GsoOptions {
    GsoOptions {
        link,
        ..GsoOptions::default()
    }
}

/// Segments through the cursor, and checks that the slice and packed shapes agree with it.
fn segments(req: &GsoRequest, pkt: &[u8], o: &GsoOptions) -> Vec<Vec<u8>> {
    let mut seg = Segmenter::new(req, pkt, o).unwrap();
    let mut buf = vec![0u8; seg.max_segment_len()];
    let mut out = Vec::new();
    while let Some(len) = seg.next_into(&mut buf) {
        out.push(buf[..len.unwrap()].to_vec());
    }
    assert_eq!(out.len(), seg.segment_count());
    let mut storage = vec![vec![0u8; seg.max_segment_len()]; out.len()];
    let mut bufs: Vec<&mut [u8]> = storage.iter_mut().map(|b| &mut b[..]).collect();
    let mut lens = vec![0usize; out.len()];
    assert_eq!(
        segment_into(req, pkt, o, &mut bufs, &mut lens),
        Ok(out.len())
    );
    for ((b, &l), s) in storage.iter().zip(&lens).zip(&out) {
        assert_eq!(&b[..l], &s[..]);
    }
    let mut packed = vec![0u8; seg.total_len()];
    let p = segment_packed(req, pkt, o, &mut packed).unwrap();
    assert_eq!(p.size, seg.total_len());
    let joined: Vec<u8> = out.concat();
    assert_eq!(packed, joined);
    assert!(
        out[..out.len() - 1]
            .iter()
            .all(|s| s.len() == p.segment_size)
    );
    out
}

/// Parses a segment and checks its IPv4 header checksum and its transport checksum.
fn verify(seg: &[u8], link: Link) -> Headers {
    let h = wire::parse_headers(seg, link).unwrap();
    let ip = &seg[h.l3_offset..];
    let l4 = &seg[h.l4_offset..];
    let pseudo = match h.ip {
        IpVersion::V4 => {
            assert!(csum::verify(&ip[..h.l3_len]), "IPv4 header checksum");
            assert_eq!(usize::from(get16(ip, 2)), ip.len());
            csum::pseudo_header_v4(
                ip[12..16].try_into().unwrap(),
                ip[16..20].try_into().unwrap(),
                h.protocol.0,
                l4.len() as u16,
            )
        }
        IpVersion::V6 => {
            assert_eq!(usize::from(get16(ip, 4)) + 40, ip.len());
            csum::pseudo_header_v6(
                ip[8..24].try_into().unwrap(),
                ip[24..40].try_into().unwrap(),
                h.protocol.0,
                l4.len() as u32,
            )
        }
    };
    assert_eq!(csum::combine(pseudo, csum::sum(l4)), 0xFFFF, "L4 checksum");
    if h.protocol == IpProtocol::UDP {
        assert_eq!(usize::from(get16(l4, 4)), l4.len());
    }
    h
}

/// The read cases every TUN implementation must agree on: payload 200, gso_size 100.
#[test]
fn tun_read_cases() {
    let cases = [
        (PacketSpec::tcp4(200), GsoType::TCPV4, 40, 20, 16, 140),
        (PacketSpec::tcp6(200), GsoType::TCPV6, 60, 40, 16, 160),
        (PacketSpec::udp4(200), GsoType::UDP_L4, 28, 20, 6, 128),
        (PacketSpec::udp6(200), GsoType::UDP_L4, 48, 40, 6, 148),
    ];
    for (spec, t, hdr_len, start, offset, seg_len) in cases {
        let pkt = spec.build_partial();
        let h = VnetHdr {
            hdr_len,
            ..hdr(t, 100, start, offset)
        };
        let req = request(&h, &pkt, Link::Tun);
        let segs = segments(&req, &pkt, &opts(Link::Tun));
        assert_eq!(segs.len(), 2);
        for (i, s) in segs.iter().enumerate() {
            assert_eq!(s.len(), seg_len);
            verify(s, Link::Tun);
            let (addrs, l4) = (if spec.v6 { 8..40 } else { 12..20 }, spec.l4_offset());
            assert_eq!(&s[addrs.clone()], &pkt[addrs], "addresses");
            assert_eq!(&s[l4..l4 + 4], &pkt[l4..l4 + 4], "ports");
            assert_eq!(
                &s[usize::from(hdr_len)..],
                &pkt[usize::from(hdr_len) + 100 * i..][..100]
            );
        }
    }
}

#[test]
fn tcp4_fields_s1_s2() {
    let spec = PacketSpec {
        l4: L4::Tcp {
            seq: 0xFFFF_FFA0,
            ack: 0x0102_0304,
            flags: 0x10 | 0x80 | 0x08 | 0x01 | 0x40, // ACK CWR PSH FIN ECE
            window: 0xfaf0,
        },
        ip_id: 0xFFFE,
        ..PacketSpec::tcp4(250)
    };
    let pkt = spec.build_partial();
    let req = request(&hdr(GsoType(0x81), 100, 20, 16), &pkt, Link::Tun);
    assert!(req.ecn);
    let segs = segments(&req, &pkt, &opts(Link::Tun));
    let lens: Vec<usize> = segs.iter().map(Vec::len).collect();
    assert_eq!(lens, [140, 140, 90]);
    let seqs: Vec<u32> = segs.iter().map(|s| get32(s, 24)).collect();
    assert_eq!(seqs, [0xFFFF_FFA0, 0x0000_0004, 0x0000_0068], "mod 2^32");
    let ids: Vec<u16> = segs.iter().map(|s| get16(s, 4)).collect();
    assert_eq!(ids, [0xFFFE, 0xFFFF, 0x0000]);
    let flags: Vec<u8> = segs.iter().map(|s| s[33]).collect();
    assert_eq!(
        flags,
        [0x10 | 0x80 | 0x40, 0x10 | 0x40, 0x10 | 0x40 | 0x08 | 0x01]
    );
    // DF, TTL, window, ack copied.
    for s in &segs {
        verify(s, Link::Tun);
        assert_eq!(s[6] & 0x40, 0x40);
        assert_eq!(s[8], 64);
        assert_eq!(&s[28..32], &pkt[28..32]);
        assert_eq!(&s[34..36], &pkt[34..36]);
    }
    // AccECN keeps CWR everywhere; fixed-ID keeps the ID.
    let o = GsoOptions {
        accecn: true,
        fixed_id: true,
        ..opts(Link::Tun)
    };
    let segs = segments(&req, &pkt, &o);
    assert!(
        segs.iter()
            .all(|s| s[33] & 0x80 != 0 && get16(s, 4) == 0xFFFE)
    );
}

#[test]
fn options_and_extension_headers_copied() {
    let pkt = tcp4_with_options(3000).build_partial();
    let req = request(&hdr(GsoType::TCPV4, 1000, 28, 16), &pkt, Link::Tun);
    for s in segments(&req, &pkt, &opts(Link::Tun)) {
        let h = verify(&s, Link::Tun);
        assert_eq!((h.l3_len, h.l4_offset), (28, 28));
        assert_eq!(&s[20..28], &pkt[20..28], "IPv4 options");
        assert_eq!(&s[48..60], &pkt[48..60], "TCP options");
        assert_eq!(s[40] >> 4, 8, "data offset");
    }
    let v6 = with_dest_opts(PacketSpec::udp6(1000), 16);
    let pkt = v6.build_partial();
    let req = request(&hdr(GsoType::UDP_L4, 300, 56, 6), &pkt, Link::Tun);
    let segs = segments(&req, &pkt, &opts(Link::Tun));
    assert_eq!(segs.len(), 4);
    for s in &segs {
        let h = verify(s, Link::Tun);
        assert_eq!(h.l4_offset, 56);
        assert_eq!(&s[40..56], &pkt[40..56], "destination options");
    }
    assert_eq!(segs[3].len(), 64 + 100);
}

#[test]
fn tap_vlan_frames() {
    for (v6, t, start) in [(false, GsoType::TCPV4, 38), (true, GsoType::TCPV6, 58)] {
        let spec = PacketSpec {
            ethernet: Some(Some(100)),
            v6,
            ..PacketSpec::tcp4(4000)
        };
        let pkt = spec.build_partial();
        let req = request(&hdr(t, 1448, start, 16), &pkt, Link::Tap);
        let segs = segments(&req, &pkt, &opts(Link::Tap));
        assert_eq!(segs.len(), 3);
        for s in &segs {
            assert_eq!(&s[..18], &pkt[..18], "Ethernet + 802.1Q copied");
            assert_eq!(verify(s, Link::Tap).vlan, Some(0x0064));
        }
    }
}

#[test]
fn uso_ids_increment_and_zero_is_ffff() {
    let pkt = PacketSpec::udp4(1000).build_partial();
    let req = request(&hdr(GsoType::UDP_L4, 300, 20, 6), &pkt, Link::Tun);
    let o = GsoOptions {
        fixed_id: true,
        ..opts(Link::Tun)
    };
    let segs = segments(&req, &pkt, &o);
    let ids: Vec<u16> = segs.iter().map(|s| get16(s, 4)).collect();
    assert_eq!(
        ids,
        [0x1234, 0x1235, 0x1236, 0x1237],
        "fixed-ID is TCP-only"
    );
    // A payload chosen so that the last segment's checksum computes to 0.
    let mut spec = PacketSpec::udp4(20);
    let probe = spec.build_partial();
    let req = request(&hdr(GsoType::UDP_L4, 10, 20, 6), &probe, Link::Tun);
    let first = segments(&req, &probe, &opts(Link::Tun)).remove(1);
    let check = get16(&first, 26);
    // Adding `check` to the last two payload bytes' word turns the sum into 0xFFFF.
    let word = get16(&spec.payload, 18);
    let fixed = csum::combine(word, check);
    spec.payload[18..20].copy_from_slice(&fixed.to_be_bytes());
    let pkt = spec.build_partial();
    let req = request(&hdr(GsoType::UDP_L4, 10, 20, 6), &pkt, Link::Tun);
    let last = segments(&req, &pkt, &opts(Link::Tun)).remove(1);
    assert_eq!(get16(&last, 26), 0xFFFF);
    verify(&last, Link::Tun);
}

#[test]
fn tso_without_needs_csum() {
    let pkt = PacketSpec::tcp4(300).build_partial();
    let h = VnetHdr {
        flags: Flags::EMPTY,
        ..hdr(GsoType::TCPV4, 100, 0, 0)
    };
    let req = request(&h, &pkt, Link::Tun);
    assert_eq!(req.csum, None);
    for s in segments(&req, &pkt, &opts(Link::Tun)) {
        verify(&s, Link::Tun);
    }
}

#[test]
fn ufo_v4_fragments() {
    let spec = PacketSpec {
        ip_id: 77,
        ..PacketSpec::udp4(3000)
    };
    let pkt = spec.build_partial();
    // K7: fragments of exactly gso_size bytes, offsets rounded down to 8-byte units.
    for (gso, offsets) in [
        (1000u16, [0usize, 1000, 2000, 3000]),
        (1003, [0, 1000, 2000, 3000]),
    ] {
        let h = VnetHdr {
            flags: Flags::EMPTY,
            ..hdr(GsoType::UDP, gso, 0, 0)
        };
        let req = request(&h, &pkt, Link::Tun);
        let frags = segments(&req, &pkt, &opts(Link::Tun));
        let n = 3008usize.div_ceil(usize::from(gso));
        assert_eq!(frags.len(), n);
        let mut stream = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert!(csum::verify(&f[..20]));
            assert_eq!(get16(f, 4), 77);
            assert_eq!(usize::from(get16(f, 2)), f.len());
            let word = get16(f, 6);
            assert_eq!(usize::from(word & 0x1fff) * 8, offsets[i] / 8 * 8);
            assert_eq!(usize::from(word & 0x1fff), i * usize::from(gso) / 8);
            assert_eq!(word & ipv4::MF != 0, i + 1 < n);
            assert_eq!(
                word & 0x4000,
                0,
                "DF cleared: the kernel writes the whole word"
            );
            assert!(i + 1 == n || f.len() == 20 + usize::from(gso));
            stream.extend_from_slice(&f[20..]);
        }
        assert_eq!(stream.len(), 3008);
        assert_eq!(&stream[8..], &pkt[28..]);
        assert_eq!(&stream[..6], &pkt[20..26]);
        let pseudo = csum::pseudo_header_v4([192, 0, 2, 1], [198, 51, 100, 2], 17, 3008);
        assert_eq!(csum::combine(pseudo, csum::sum(&stream)), 0xFFFF);
    }
    // gso_size below 8 is what the kernel does too: 3-byte fragments (K7).
    let small = PacketSpec::udp4(20).build_partial();
    let req = request(&hdr(GsoType::UDP, 3, 20, 6), &small, Link::Tun);
    let frags = segments(&req, &small, &opts(Link::Tun));
    assert_eq!(frags.len(), 10);
    assert_eq!(frags[9].len(), 21);
    assert_eq!(
        get16(&frags[3], 6),
        ipv4::MF | 1,
        "9 bytes before: offset unit 1"
    );
}

#[test]
fn ufo_v6_fragment_header() {
    // K8, measured: fragment header after the hop-by-hop / destination options, one ID (the
    // caller's), offset = running byte count including the extension headers, written whole.
    let mut spec = PacketSpec::udp6(300);
    spec.v6_ext = vec![v6_dest_opts(8)];
    let pkt = spec.build_partial();
    let l4 = pkt.len() - 308;
    let req = request(&hdr(GsoType::UDP, 104, l4 as u16, 6), &pkt, Link::Tun);
    let o = GsoOptions {
        frag_id: 0x58c0_a084,
        ..opts(Link::Tun)
    };
    let frags = segments(&req, &pkt, &o);
    assert_eq!(frags.len(), 3);
    let ext = l4 - 40;
    let mut stream = Vec::new();
    for (i, f) in frags.iter().enumerate() {
        assert_eq!(usize::from(get16(f, 4)) + 40, f.len());
        assert_eq!(f[6], pkt[6], "first next header unchanged");
        assert_eq!(
            f[40], 44,
            "the destination options now name the fragment header"
        );
        assert_eq!(&f[41..l4], &pkt[41..l4]);
        let frag = &f[l4..l4 + 8];
        assert_eq!(frag[0], 17);
        assert_eq!(frag[1], 0);
        let word = usize::from(get16(frag, 2));
        assert_eq!(word, (i * (104 + ext)) | usize::from(i < 2));
        assert_eq!(&frag[4..], &0x58c0_a084u32.to_be_bytes());
        stream.extend_from_slice(&f[l4 + 8..]);
    }
    assert_eq!(stream.len(), 308);
    assert_eq!(&stream[8..], &pkt[l4 + 8..]);
    let pseudo = csum::pseudo_header_v6(
        pkt[8..24].try_into().unwrap(),
        pkt[24..40].try_into().unwrap(),
        17,
        308,
    );
    assert_eq!(csum::combine(pseudo, csum::sum(&stream)), 0xFFFF);
}

/// Ethernet + outer IPv4 + UDP + an 8-byte tunnel header + inner IPv4/TCP.
fn tunnel_packet(outer_csum: bool) -> (Vec<u8>, VnetHdr) {
    let inner = PacketSpec::tcp4(3000).build_partial();
    let outer = PacketSpec {
        ethernet: Some(None),
        payload: [&[0x08, 0, 0, 0, 0, 0, 0x2a, 0][..], &inner].concat(),
        ..PacketSpec::udp4(0)
    };
    let mut pkt = outer.build_partial();
    let mut flags = Flags::NEEDS_CSUM;
    if outer_csum {
        flags = flags.with(Flags::UDP_TUNNEL_CSUM);
        // C3: the outer field holds the pseudo-header sum, the seed Linux trusts (K24).
        let seed = csum::pseudo_header_v4(
            [192, 0, 2, 1],
            [198, 51, 100, 2],
            17,
            (pkt.len() - 34) as u16,
        );
        pkt[40..42].copy_from_slice(&seed.to_be_bytes());
    }
    let h = VnetHdr {
        flags,
        gso_type: GsoType(GsoType::UDP_TUNNEL_IPV4.0 | GsoType::TCPV4.0),
        outer_th_offset: 34,
        inner_nh_offset: 50,
        ..hdr(GsoType::NONE, 1000, 70, 16)
    };
    (pkt, h)
}

#[test]
fn udp_tunnel_tcp() {
    for outer_csum in [false, true] {
        let (pkt, h) = tunnel_packet(outer_csum);
        let copts = CheckOptions::DEFAULT
            .with_link(Link::Tap)
            .with_tunnel(true, true);
        let Ok(Offload::Segment(req)) = check(&h, &pkt, &copts) else {
            panic!("tunnel request");
        };
        let segs = segments(&req, &pkt, &opts(Link::Tap));
        assert_eq!(segs.len(), 3);
        for (i, s) in segs.iter().enumerate() {
            // Outer: IPv4 length/ID/checksum, UDP length and checksum (or 0).
            assert!(csum::verify(&s[14..34]));
            assert_eq!(usize::from(get16(s, 16)), s.len() - 14);
            assert_eq!(get16(s, 18), 0x1234 + i as u16);
            assert_eq!(usize::from(get16(s, 38)), s.len() - 34);
            let outer_udp = &s[34..];
            if outer_csum {
                let pseudo = csum::pseudo_header_v4(
                    [192, 0, 2, 1],
                    [198, 51, 100, 2],
                    17,
                    outer_udp.len() as u16,
                );
                assert_eq!(csum::combine(pseudo, csum::sum(outer_udp)), 0xFFFF);
            } else {
                assert_eq!(get16(s, 40), get16(&pkt, 40), "the outer field as it was");
            }
            assert_eq!(&s[42..50], &pkt[42..50], "tunnel header copied");
            // Inner: a valid TCP segment.
            let inner = verify(&s[50..], Link::Tun);
            assert_eq!(inner.l4_offset, 20);
            assert_eq!(get32(&s[50..], 24), 1000 + 1000 * i as u32);
        }
    }
}

#[test]
fn s5_buffers_checked_before_writing() {
    let pkt = PacketSpec::tcp4(250).build_partial();
    let req = request(&hdr(GsoType::TCPV4, 100, 20, 16), &pkt, Link::Tun);
    let o = opts(Link::Tun);
    let mut storage = [[0xAAu8; 140]; 3];
    let mut lens = [7usize; 3];
    {
        let [a, b, _] = &mut storage;
        let mut two: [&mut [u8]; 2] = [a, b];
        assert_eq!(
            segment_into(&req, &pkt, &o, &mut two, &mut lens),
            Err(GsoError::TooFewBuffers { need: 3, have: 2 })
        );
    }
    {
        let [a, b, c] = &mut storage;
        let mut bufs: [&mut [u8]; 3] = [a, &mut b[..139], c];
        assert_eq!(
            segment_into(&req, &pkt, &o, &mut bufs, &mut lens),
            Err(GsoError::BufferTooSmall {
                index: 1,
                need: 140,
                have: 139
            })
        );
        assert_eq!(
            segment_into(&req, &pkt, &o, &mut bufs, &mut lens[..2]),
            Err(GsoError::TooFewBuffers { need: 3, have: 2 })
        );
    }
    assert!(
        storage.iter().flatten().all(|&b| b == 0xAA),
        "nothing written"
    );
    assert_eq!(lens, [7; 3]);
    let mut packed = [0xAAu8; 369];
    assert_eq!(
        segment_packed(&req, &pkt, &o, &mut packed),
        Err(GsoError::BufferTooSmall {
            index: 0,
            need: 370,
            have: 369
        })
    );
    assert!(packed.iter().all(|&b| b == 0xAA));
    // The cursor refuses a short buffer without advancing.
    let mut seg = Segmenter::new(&req, &pkt, &o).unwrap();
    let mut small = [0xAAu8; 100];
    assert!(matches!(
        seg.next_into(&mut small),
        Some(Err(GsoError::BufferTooSmall { index: 0, .. }))
    ));
    assert!(small.iter().all(|&b| b == 0xAA));
    assert_eq!(seg.remaining(), 3);
    let mut big = [0u8; 140];
    assert_eq!(seg.next_into(&mut big), Some(Ok(140)));
    assert_eq!(seg.remaining(), 2);
}

#[test]
fn too_many_uso_segments() {
    let pkt = PacketSpec::udp4(1000).build_partial();
    let req = request(&hdr(GsoType::UDP_L4, 100, 20, 6), &pkt, Link::Tun);
    let o = GsoOptions {
        kernel: Profile {
            udp_max_segments: 9,
            ..Profile::NEWEST
        },
        ..opts(Link::Tun)
    };
    let err = Segmenter::new(&req, &pkt, &o).unwrap_err();
    assert_eq!(err, GsoError::TooManySegments { count: 10, max: 9 });
    assert_eq!(err.rule(), "S5");
}

#[test]
fn request_from_another_packet() {
    let pkt = PacketSpec::tcp4(300).build_partial();
    let req = request(&hdr(GsoType::TCPV4, 100, 20, 16), &pkt, Link::Tun);
    let o = opts(Link::Tun);
    let others = [
        PacketSpec::tcp4(301).build_partial(),
        PacketSpec::tcp6(300).build_partial(),
        PacketSpec::udp4(300).build_partial(),
        PacketSpec {
            ip_options: vec![1; 4],
            ..PacketSpec::tcp4(300)
        }
        .build_partial(),
        PacketSpec {
            tcp_options: vec![1; 4],
            ..PacketSpec::tcp4(296)
        }
        .build_partial(),
        pkt[..100].to_vec(),
        Vec::new(),
    ];
    for other in &others {
        let err = Segmenter::new(&req, other, &o).unwrap_err();
        assert_eq!(err.rule(), "S1", "{err}");
    }
    // Trailing bytes the IP header disowns.
    let mut padded = pkt.clone();
    padded.push(0);
    let bigger = GsoRequest {
        payload_len: 261,
        ..req
    };
    assert!(matches!(
        Segmenter::new(&bigger, &padded, &o),
        Err(GsoError::Mismatch {
            field: ReqField::IpLength,
            ..
        })
    ));
    // The wrong link.
    assert!(Segmenter::new(&req, &pkt, &opts(Link::Tap)).is_err());
    let zero = GsoRequest { gso_size: 0, ..req };
    assert_eq!(
        Segmenter::new(&zero, &pkt, &o).unwrap_err(),
        GsoError::GsoSize { value: 0, min: 1 }
    );
}

#[test]
fn complete_checksum_s4() {
    for spec in [PacketSpec::tcp4(99), PacketSpec::udp6(64)] {
        let good = spec.build();
        let offset = if spec.l4 == L4::Udp { 6 } else { 16 };
        // The field holds the pseudo-header sum (C3).
        let mut pkt = spec.build_partial();
        let req = CsumRequest {
            start: spec.l4_offset() as u16,
            offset: offset as u16,
        };
        complete_checksum(&mut pkt, req).unwrap();
        assert_eq!(pkt, good);
    }
    // A sum of 0xFFFF completes to 0, written 0xFFFF.
    let mut pkt = [0u8, 0, 0xFF, 0xFF];
    complete_checksum(
        &mut pkt,
        CsumRequest {
            start: 0,
            offset: 0,
        },
    )
    .unwrap();
    assert_eq!(pkt, [0xFF, 0xFF, 0xFF, 0xFF]);
    let mut short = [0u8; 10];
    let err = complete_checksum(
        &mut short,
        CsumRequest {
            start: 4,
            offset: 5,
        },
    );
    assert_eq!(
        err,
        Err(GsoError::CsumRange {
            start: 4,
            offset: 5,
            len: 10
        })
    );
    assert_eq!(short, [0; 10]);
    assert!(
        complete_checksum(
            &mut short,
            CsumRequest {
                start: u16::MAX,
                offset: u16::MAX
            }
        )
        .is_err()
    );
}

#[test]
fn error_messages() {
    use std::string::ToString;
    let errors = [
        GsoError::TooFewBuffers { need: 3, have: 2 },
        GsoError::BufferTooSmall {
            index: 1,
            need: 140,
            have: 139,
        },
        GsoError::TooManySegments {
            count: 129,
            max: 128,
        },
        GsoError::Wire(wire::Error::BadIhl(3)),
        mismatch(ReqField::HdrLen, 40, 44),
        GsoError::GsoSize { value: 0, min: 1 },
        GsoError::Unsupported("UFO in a UDP tunnel"),
        GsoError::CsumRange {
            start: 4,
            offset: 5,
            len: 10,
        },
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(msg.starts_with(e.rule()), "{msg}");
        let _: &dyn core::error::Error = &e;
    }
    assert_eq!(
        mismatch(ReqField::HdrLen, 40, 44).to_string(),
        "S1: request and packet disagree on HdrLen: request 40, packet 44"
    );
}
