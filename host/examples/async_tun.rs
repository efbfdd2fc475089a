//! A VPN-style loop on tokio: packets from a TUN device go out over UDP with a tunnel header in
//! front of each, and datagrams from the peer go into the device. The "tunnel header" is a
//! 4-byte packet counter standing in for a real one (WireGuard's is 16 bytes before and a 16-byte
//! tag after): `split_with_room` leaves its room around every segment, so sealing would happen
//! in place, with no copy per packet.
//!
//! ```text
//! cargo run -p vnet-host --features tokio --example async_tun -- vpn0 192.0.2.1/24 0.0.0.0:51820 198.51.100.7:51820
//! ```
//!
//! (as root: it creates `vpn0`, sets its MTU, address and link up through `vnet_host::link`).
//! Stop it with Ctrl-C.

use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;
use vnet_host::batch::Room;
use vnet_host::tokio::AsyncDevice;
use vnet_host::vnet_core::hdr::VnetHdr;
use vnet_host::{DeviceKind, Offloads, Options};

/// The stand-in tunnel header before each packet; no tag after it.
const ROOM: Room = Room { head: 4, tail: 0 };

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, cidr, bind, peer] = args.as_slice() else {
        return Err("usage: async_tun NAME ADDR/PREFIX BIND_ADDR:PORT PEER_ADDR:PORT".into());
    };
    let (addr, prefix) = cidr.split_once('/').ok_or("ADDR/PREFIX")?;
    let (addr, prefix): (IpAddr, u8) = (addr.parse()?, prefix.parse()?);
    let peer: SocketAddr = peer.parse()?;

    let dev = Options::new(DeviceKind::Tun).name(name).open()?;
    // Segmentation offloads on: the kernel hands over 64 KiB super-packets, split here.
    let offloads = dev.negotiate_offloads(Offloads::FULL)?;
    dev.set_mtu(1420)?;
    dev.add_address(addr, prefix)?;
    dev.set_up(true)?;
    let dev = AsyncDevice::new(dev)?;
    let wire = UdpSocket::bind(bind.as_str()).await?;
    eprintln!("{name}: {cidr}, offloads {offloads:?}, wire {bind} <-> {peer}");

    let (mut read, mut out) = (vec![0u8; 65536], vec![0u8; 4 << 16]);
    let mut datagram = vec![0u8; 65536];
    let mut counter: u32 = 0;
    loop {
        tokio::select! {
            spaced = dev.recv_split_with_room(&mut read, &mut out, ROOM) => {
                let spaced = spaced?;
                for i in 0..spaced.count {
                    let Some(sealed) = spaced.with_room(i) else { break };
                    counter = counter.wrapping_add(1);
                    // "Seal": write the header into the room before the packet.
                    out[sealed.start..sealed.start + ROOM.head].copy_from_slice(&counter.to_be_bytes());
                    wire.send_to(&out[sealed], peer).await?;
                }
            }
            got = wire.recv_from(&mut datagram) => {
                let (len, from) = got?;
                // "Open": drop anything not from the peer, strip the header.
                let Some(packet) = datagram.get(ROOM.head..len).filter(|_| from == peer) else {
                    continue;
                };
                dev.send(&VnetHdr::default(), packet).await?;
            }
        }
    }
}
