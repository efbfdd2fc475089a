//! `batch::split_with_room` (S7): the packets of a (header, packet) pair laid out with room for a
//! VPN's header before and tag after each, and law L12: the same packet bytes as `batch::split`,
//! the same refusals, and not one byte of the room written.

use proptest::prelude::*;
use vnet_core::hdr::VnetHdr;
use vnet_host::Error;
use vnet_host::batch::{Received, Room, Spaced, split, split_with_room};
use vnet_spec::packet::PacketSpec;
use vnet_spec::strategy::packet::{csum_header, gso_header, super_packet_any};

/// What fills `out` before the split: any byte the split leaves must still be this.
const FILL: u8 = 0xA5;

/// `split`'s packets, each as its own vector (the whole packet when it goes whole).
fn split_packets(hdr: &VnetHdr, pkt: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut pkt = pkt.to_vec();
    let mut out = vec![0u8; 4 << 16];
    match split(hdr, &mut pkt, &mut out).map_err(|e| e.to_string())? {
        Received::Whole { len } => Ok(vec![pkt[..len].to_vec()]),
        Received::Segments { len, stride, .. } => {
            Ok(out[..len].chunks(stride).map(<[u8]>::to_vec).collect())
        }
    }
}

/// `split_with_room` into a buffer filled with [`FILL`]: the layout, the buffer, its packets.
fn roomy(hdr: &VnetHdr, pkt: &[u8], room: Room) -> Result<(Spaced, Vec<u8>), String> {
    let mut pkt = pkt.to_vec();
    let mut out = vec![FILL; 5 << 16];
    let spaced = split_with_room(hdr, &mut pkt, &mut out, room).map_err(|e| e.to_string())?;
    Ok((spaced, out))
}

/// L12 for one pair and one room: equal packets or equal refusals, and every byte outside the
/// packets (room, the space after the last tail) still [`FILL`].
fn l11(hdr: &VnetHdr, pkt: &[u8], room: Room) -> Result<(), TestCaseError> {
    let want = split_packets(hdr, pkt);
    let got = roomy(hdr, pkt, room);
    let (spaced, out) = match (want, got) {
        (Err(want), Err(got)) => {
            prop_assert_eq!(want, got, "the same refusal");
            return Ok(());
        }
        (Ok(want), Ok((spaced, out))) => {
            let packets: Vec<Vec<u8>> = spaced.packets().map(|r| out[r].to_vec()).collect();
            prop_assert_eq!(&packets, &want, "the same packet bytes as split");
            (spaced, out)
        }
        (want, got) => {
            return Err(TestCaseError::fail(format!(
                "split: {want:?}, split_with_room: {:?}",
                got.map(|g| g.0)
            )));
        }
    };
    let mut written = vec![false; out.len()];
    for r in spaced.packets() {
        written[r].fill(true);
    }
    let touched = out
        .iter()
        .zip(&written)
        .position(|(&b, &w)| !w && b != FILL);
    prop_assert_eq!(touched, None, "a byte outside the packets was written");
    for i in 0..spaced.count {
        let packet = spaced.packet(i).unwrap();
        prop_assert_eq!(packet.start, i * spaced.slot() + room.head);
        prop_assert_eq!(
            spaced.with_room(i).unwrap().len(),
            packet.len() + room.head + room.tail
        );
    }
    prop_assert_eq!(
        spaced.len(),
        spaced.with_room(spaced.count - 1).unwrap().end
    );
    Ok(())
}

/// TCPv4, TCPv6 and USO super-packets with a WireGuard-like room (16 before, 16 after), no room,
/// and a head only: split's segments, each at its slot, room unwritten.
#[test]
fn l12_split_with_room_places_splits_segments() {
    for (spec, gso_size) in [
        (PacketSpec::tcp4(65_000), 1448u16),
        (PacketSpec::tcp6(30_001), 1220),
        (PacketSpec::udp4(9_000), 1000),
    ] {
        let pkt = spec.build_partial();
        let hdr = gso_header(&spec, gso_size);
        for room in [
            Room { head: 16, tail: 16 },
            Room::default(),
            Room { head: 60, tail: 0 },
        ] {
            l11(&hdr, &pkt, room).unwrap();
            let (spaced, _) = roomy(&hdr, &pkt, room).unwrap();
            assert!(spaced.count > 1, "{spaced:?}");
        }
    }
}

/// A packet that asks only for a checksum is completed and copied into `out` after its head.
#[test]
fn split_with_room_copies_a_whole_packet_after_its_head() {
    let spec = PacketSpec::tcp4(500);
    let mut pkt = spec.build_partial();
    let hdr = csum_header(&spec);
    let room = Room { head: 32, tail: 16 };
    let mut out = vec![FILL; 2048];
    let spaced = split_with_room(&hdr, &mut pkt, &mut out, room).unwrap();
    assert_eq!(spaced.count, 1);
    assert_eq!(spaced.packet(0), Some(32..32 + pkt.len()));
    assert_eq!(&out[32..32 + pkt.len()], &spec.build()[..]);
    assert!(out[..32].iter().all(|&b| b == FILL));
    assert_eq!(spaced.len(), 32 + pkt.len() + 16);
}

/// An `out` one byte short of the layout (last tail included) is an error, and nothing is
/// written; a huge room is the same error, not an overflow.
#[test]
fn split_with_room_short_buffer_is_an_error_writing_nothing() {
    let spec = PacketSpec::tcp4(10_000);
    let pkt = spec.build_partial();
    let hdr = gso_header(&spec, 1000);
    let room = Room { head: 40, tail: 16 };
    let (spaced, _) = roomy(&hdr, &pkt, room).unwrap();
    for (room, len) in [
        (room, spaced.len() - 1),
        (
            Room {
                head: usize::MAX / 2,
                tail: usize::MAX / 2,
            },
            1 << 16,
        ),
    ] {
        let mut out = vec![FILL; len];
        let err = split_with_room(&hdr, &mut pkt.clone(), &mut out, room);
        assert!(
            matches!(err, Err(Error::Core(vnet_core::Error::Gso(_)))),
            "{err:?}"
        );
        assert!(out.iter().all(|&b| b == FILL), "nothing written");
    }
    let mut out = vec![FILL; spaced.len()];
    assert!(split_with_room(&hdr, &mut pkt.clone(), &mut out, room).is_ok());
}

proptest! {
    #![proptest_config(vnet_spec::config("split_room_l11"))]

    /// L12 on every kind of super-packet the strategies make (TCP, USO, UFO, tunnels; those the
    /// TUN-link `check` refuses must be refused alike) and any room up to 64 bytes each side.
    #[test]
    fn l12_split_with_room_equals_split(
        sp in super_packet_any(),
        head in 0usize..=64,
        tail in 0usize..=64,
    ) {
        l11(&sp.hdr, &sp.pkt, Room { head, tail })?;
    }
}
