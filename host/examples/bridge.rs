//! A minimal VMM-style backend loop: two TAP endpoints bridged, offloads negotiated from a virtio
//! feature set. Run as root: `cargo run -p vnet-host --example bridge -- tapA tapB`, then put
//! the two interfaces into namespaces (or bridges) of your choice; Ctrl-C stops it.
//!
//! Per direction, per packet: `recv` (one readv, the header translated to `RxMetadata`),
//! `Received::forward` (the header and frame as `TxMetadata`), `send` (the header rebuilt, the
//! software fix-ups, one writev).

use std::time::Duration;

use vnet_core::hdr::Layout;
use vnet_core::virtio::{self, Features};
use vnet_host::{DeviceKind, Endpoint, Error, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let a = args.next().unwrap_or_else(|| "vnetbr0".into());
    let b = args.next().unwrap_or_else(|| "vnetbr1".into());

    // What a guest might accept of a device's offer (F3): virtio 1.0, checksums and TSO both ways.
    let offer = Features::VERSION_1
        .with(Features::CSUM)
        .with(Features::GUEST_CSUM)
        .with(Features::HOST_TSO4)
        .with(Features::HOST_TSO6)
        .with(Features::GUEST_TSO4)
        .with(Features::GUEST_TSO6);
    let agreed = virtio::negotiate(offer, offer)?;
    println!(
        "agreed {:?}: layout {:?}, TUNSETOFFLOAD {:#x}",
        agreed.features(),
        agreed.layout()?,
        agreed.tap_offloads()
    );

    let open = |name: &str| -> Result<Endpoint, Error> {
        let dev = Options::new(DeviceKind::Tap)
            .name(name)
            .layout(Layout::V1)
            .nonblocking(true)
            .open()?;
        Endpoint::for_agreement(dev, agreed)
    };
    let (ea, eb) = (open(&a)?, open(&b)?);
    println!(
        "{a} <-> {b}: offloads {} / {}, advertising {:?}",
        ea.offloads(),
        eb.offloads(),
        ea.tx_offload_support()
    );

    let stop = vnet_host::catch_stop_signals()?;
    std::thread::scope(|s| {
        for (from, to) in [(&ea, &eb), (&eb, &ea)] {
            s.spawn(move || pump(from, to, stop));
        }
    });
    Ok(())
}

/// One direction of the bridge, until a signal. A frame that cannot be forwarded is reported
/// and dropped; the loop goes on.
fn pump(from: &Endpoint, to: &Endpoint, stop: &std::sync::atomic::AtomicBool) {
    let mut buf = vec![0u8; 65536 + 64];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match from.device().wait_readable(Duration::from_millis(100)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => return eprintln!("poll: {e}"),
        }
        let got = match from.recv(&mut buf) {
            Ok(got) => got,
            Err(Error::WouldBlock) => continue,
            Err(e) => {
                eprintln!("recv: {e}");
                continue;
            }
        };
        let frame = &mut buf[..got.len()];
        let sent = got.forward(frame).and_then(|meta| to.send(&meta, frame));
        if let Err(e) = sent {
            eprintln!("dropped a {}-byte frame: {e}", got.len());
        }
    }
}
