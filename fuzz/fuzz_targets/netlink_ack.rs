//! `netlink_ack`: `vnet_host::link::parse_ack` (T21) on any reply. The first 4 bytes are the
//! request's sequence number (native order), the rest the datagram. Law: an answer or a typed
//! `ReplyError`, never a panic; an answer needs a whole NLMSG_ERROR (header and code, 20 bytes).
//! `host/tests/link.rs` replays the corpus and writes the seeds.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (seq, datagram) = match data.split_first_chunk::<4>() {
        Some((seq, rest)) => (u32::from_ne_bytes(*seq), rest),
        None => (0, data),
    };
    if let Ok(Some(_)) = vnet_host::link::parse_ack(datagram, seq) {
        assert!(datagram.len() >= 20, "an answer from {} bytes", datagram.len());
    }
});
