//! The relay's error policy, in one place: what each failure of each step does to the relay.
//!
//! A VPN data path must outlive the network it runs on. Routes flap, peers restart, ICMP errors
//! come back, devices go down for a moment, anyone may send a packet of any size or source. So
//! the relay ends only when one of its own file descriptors is gone; everything else costs at
//! most the packets involved, and each such loss is counted under its [`Cause`] (read with
//! [`Relay::snapshot`](super::Relay::snapshot); `vnet relay` prints them on exit, on SIGUSR1
//! and with `--stats SECS`). The four classes (rules H1-H5 in `spec/RULES.md`):
//!
//! - [`Action::Drop`]: the packet (or the batch of datagrams in one send) is lost and counted;
//!   the pipeline goes on at once. ICMP errors reported on the wire socket, an oversized packet,
//!   a packet the kernel refuses, a spoofed or malformed packet. The ICMP cases are *reports
//!   about earlier datagrams* (Linux keeps the error of a connected UDP socket and returns it on
//!   the next call): the current call is what fails, so its datagrams are the ones counted.
//! - [`Action::Fallback`]: the kernel refused a UDP_SEGMENT train; [`crate::udp::BatchSocket`]
//!   sends it again as single datagrams and, after three refusals in a row, leaves UDP_SEGMENT
//!   off and tries it again after 1 s, 2 s ... 64 s. Nothing is lost, so nothing is dropped;
//!   the socket counts the fallbacks, the relay prints them.
//! - [`Action::Wait`]: a condition of the device, not of the packet (a TUN that is down). The
//!   packet is dropped and counted like a drop, and the pipeline keeps going: it does not spin,
//!   because reads on a down TUN find nothing and block in `poll`, and writes only happen when a
//!   datagram arrives.
//! - [`Action::End`]: one of the relay's descriptors is unusable (the device was deleted, the
//!   socket closed or broken): no later call can succeed, so the relay stops and says why.
//!
//! Unknown errnos end the relay: a policy that drops what it does not understand could hide a
//! bug or spin on a dead descriptor. Each new errno seen in the field gets a row here.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The relay step whose system call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `readv` (and `poll`) on a TUN device.
    TunRead,
    /// `writev` into a TUN device.
    TunWrite,
    /// `send`/`sendmmsg` on the wire socket.
    UdpSend,
    /// `recv`/`recvmmsg` on the wire socket.
    UdpRecv,
}

/// What the relay does about a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Lose the packet(s), count them under the cause, go on.
    Drop(Cause),
    /// Done inside [`BatchSocket::send_batch`](crate::udp::BatchSocket::send_batch) (UDP_SEGMENT
    /// refused); [`classify`] never returns it: it is here to document the class.
    Fallback,
    /// The device is not ready: count, go on, the device may come back.
    Wait(Cause),
    /// A descriptor is gone: stop the relay.
    End,
}

/// Why packets were lost (or an error was seen). Each has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Cause {
    /// ECONNREFUSED (ICMP port unreachable) or ENOPROTOOPT (protocol unreachable): nobody
    /// listens at the peer's port, e.g. the peer restarts.
    PeerUnreachable,
    /// EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENONET, ENETDOWN, EADDRNOTAVAIL: no route, an ICMP
    /// host/network unreachable or time exceeded, or the local address went away; routes come
    /// back. Linux reports ICMPv4 "administratively prohibited" (codes 9, 10 and 13) as
    /// EHOSTUNREACH too (`icmp_err_convert`), so it is counted here.
    Unreachable,
    /// EACCES, EPERM: ICMPv6 "administratively prohibited" or "reject route" (EACCES,
    /// `icmpv6_err_convert`), or a local firewall refusing the send (EPERM).
    Prohibited,
    /// EMSGSIZE on a single datagram: an ICMP "fragmentation needed"/"packet too big" reported
    /// on the next call (the kernel has lowered the path MTU and fragments from now on).
    PathMtu,
    /// EPROTO (ICMP parameter problem) and EOPNOTSUPP (source route failed).
    IcmpOther,
    /// ENOBUFS, ENOMEM, EAGAIN on a write: the kernel is short of memory or a queue is full
    /// for a moment.
    NoBuffers,
    /// A packet larger than one UDP datagram can carry (65,507 bytes over IPv4), e.g. 65,535
    /// bytes from a TUN with MTU 65535, or a TUN read longer than the buffer.
    Oversized,
    /// EINVAL (or a short write) on a TUN write: the kernel refuses the header or packet.
    TunRefused,
    /// EIO on a TUN write: the device is down.
    TunDown,
    /// A packet neither IPv4 nor IPv6, shorter than its IP header, or one core's gso/gro
    /// refuses (a bad vnet header from the TUN, an unsplittable super-packet).
    Malformed,
    /// An inner source address outside the sending side's allowed prefixes ([`Allowed`];
    /// `vnet relay --allow-a/--allow-b`): someone who can reach the wire tried to inject
    /// traffic.
    SpoofedInner,
    /// A datagram whose outer source is not the peer's address and port.
    ForeignWire,
    /// Datagrams that reached a wire socket before it was connected, discarded at start.
    Stale,
}

impl Cause {
    /// How many causes there are (the length of a counter array).
    pub const COUNT: usize = 13;

    /// Every cause, in counter order.
    pub const ALL: [Cause; Self::COUNT] = [
        Cause::PeerUnreachable,
        Cause::Unreachable,
        Cause::Prohibited,
        Cause::PathMtu,
        Cause::IcmpOther,
        Cause::NoBuffers,
        Cause::Oversized,
        Cause::TunRefused,
        Cause::TunDown,
        Cause::Malformed,
        Cause::SpoofedInner,
        Cause::ForeignWire,
        Cause::Stale,
    ];

    /// The name printed with the counter (and parsed by the tests).
    pub fn name(self) -> &'static str {
        match self {
            Cause::PeerUnreachable => "peer-unreachable",
            Cause::Unreachable => "host-unreachable",
            Cause::Prohibited => "prohibited",
            Cause::PathMtu => "path-mtu",
            Cause::IcmpOther => "icmp-other",
            Cause::NoBuffers => "no-buffers",
            Cause::Oversized => "oversized",
            Cause::TunRefused => "tun-refused",
            Cause::TunDown => "tun-down",
            Cause::Malformed => "malformed",
            Cause::SpoofedInner => "spoofed-inner-source",
            Cause::ForeignWire => "foreign-wire-source",
            Cause::Stale => "stale-before-connect",
        }
    }
}

/// The policy: what a failure of `step` with `errno` (None: not a kernel error, e.g. a short
/// write) does.
pub fn classify(step: Step, errno: Option<i32>) -> Action {
    use Action::{Drop, End, Wait};
    let Some(errno) = errno else {
        return match step {
            // A short write or read: the kernel took or gave part of a packet; that packet is lost.
            Step::TunWrite => Drop(Cause::TunRefused),
            Step::TunRead => Drop(Cause::Malformed),
            // Errors without errno from the socket layer are ours (a bad segment size): a bug.
            Step::UdpSend | Step::UdpRecv => End,
        };
    };
    match (step, errno) {
        // The descriptor is gone or was never what we think: nothing later can succeed.
        (_, libc::EBADF | libc::EBADFD | libc::ENODEV | libc::ENXIO | libc::ENOTSOCK) => End,
        (_, libc::EFAULT | libc::ENOTCONN | libc::EDESTADDRREQ | libc::EPIPE) => End,

        // The wire socket: ICMP reports and local routing.
        (Step::UdpSend | Step::UdpRecv, libc::ECONNREFUSED | libc::ENOPROTOOPT) => {
            Drop(Cause::PeerUnreachable)
        }
        (
            Step::UdpSend | Step::UdpRecv,
            libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::ENETDOWN
            | libc::EADDRNOTAVAIL,
        ) => Drop(Cause::Unreachable),
        (Step::UdpSend | Step::UdpRecv, libc::EACCES | libc::EPERM) => Drop(Cause::Prohibited),
        // On a UDP_SEGMENT train the socket already fell back; what reaches here is a single
        // datagram, or a fallback datagram that failed again.
        (Step::UdpSend | Step::UdpRecv, libc::EMSGSIZE) => Drop(Cause::PathMtu),
        (Step::UdpSend | Step::UdpRecv, libc::EPROTO | libc::EOPNOTSUPP) => Drop(Cause::IcmpOther),
        (Step::UdpSend | Step::UdpRecv, libc::ENOBUFS | libc::ENOMEM) => Drop(Cause::NoBuffers),
        // A send that would block (a full socket buffer; the socket blocks, so only with a send
        // timeout) loses the batch, as a full NIC queue would.
        (Step::UdpSend, libc::EAGAIN) => Drop(Cause::NoBuffers),

        // The TUN device.
        (Step::TunWrite, libc::EIO) => Wait(Cause::TunDown),
        (Step::TunWrite, libc::EINVAL) => Drop(Cause::TunRefused),
        (Step::TunWrite, libc::ENOBUFS | libc::ENOMEM | libc::EAGAIN) => Drop(Cause::NoBuffers),
        (Step::TunRead, libc::EIO) => Wait(Cause::TunDown),
        (Step::TunRead, libc::ENOBUFS | libc::ENOMEM) => Drop(Cause::NoBuffers),
        // A read that found a packet longer than its buffer (EMSGSIZE from a packet socket,
        // or the device's MSG_TRUNC canary, mapped by the caller).
        (Step::TunRead, libc::EMSGSIZE) => Drop(Cause::Oversized),

        _ => End,
    }
}

/// One allowed prefix: an address and a prefix length, as `192.0.2.0/24` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// `addr/len`; `None` when `len` is longer than the address (32 or 128 bits).
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(Self { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|err| format!("{s:?}: not an address: {err}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l
                .parse::<u8>()
                .map_err(|err| format!("{s:?}: prefix length: {err}"))?,
            None => max,
        };
        Prefix::new(addr, len).ok_or_else(|| format!("{s:?}: prefix length above {max}"))
    }
}

/// The inner source addresses one side may send (WireGuard's AllowedIPs): a packet that
/// arrives over the wire from that side must come from one of these prefixes, or it is dropped
/// ([`Cause::SpoofedInner`]). Kept as masked integers, so a check is a few compares and no
/// allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowed {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Allowed {
    /// Every IPv4 and IPv6 source (`0.0.0.0/0` and `::/0`).
    pub fn any() -> Self {
        Self {
            v4: vec![(0, 0)],
            v6: vec![(0, 0)],
        }
    }

    /// The sources within `prefixes`.
    pub fn from_prefixes(prefixes: &[Prefix]) -> Self {
        let mut allowed = Self::default();
        for p in prefixes {
            match p.addr {
                IpAddr::V4(a) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(p.len)).unwrap_or(0);
                    allowed.v4.push((u32::from(a) & mask, mask));
                }
                IpAddr::V6(a) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(p.len)).unwrap_or(0);
                    allowed.v6.push((u128::from(a) & mask, mask));
                }
            }
        }
        allowed
    }

    /// Checks an inner IP packet: `Ok` if its source is allowed, else the cause to count
    /// (malformed: not IPv4/IPv6 or shorter than the source address; spoofed: outside).
    #[inline]
    pub fn check(&self, pkt: &[u8]) -> Result<(), Cause> {
        match pkt.first().map(|b| b >> 4) {
            Some(4) => {
                let src = pkt.get(12..16).ok_or(Cause::Malformed)?;
                let src = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
                if self.v4.iter().any(|&(net, mask)| src & mask == net) {
                    Ok(())
                } else {
                    Err(Cause::SpoofedInner)
                }
            }
            Some(6) => {
                let src: [u8; 16] = pkt
                    .get(8..24)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(Cause::Malformed)?;
                let src = u128::from_be_bytes(src);
                if self.v6.iter().any(|&(net, mask)| src & mask == net) {
                    Ok(())
                } else {
                    Err(Cause::SpoofedInner)
                }
            }
            _ => Err(Cause::Malformed),
        }
    }
}

/// Parses `PREFIX[,PREFIX...]`, or `any`.
#[derive(Clone, Debug)]
pub struct PrefixList(
    /// The prefixes, in the order given.
    pub Vec<Prefix>,
);

impl FromStr for PrefixList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "any" {
            return Ok(Self(vec![
                Prefix::new(IpAddr::from([0, 0, 0, 0]), 0).ok_or("0.0.0.0/0")?,
                Prefix::new(IpAddr::from([0u16; 8]), 0).ok_or("::/0")?,
            ]));
        }
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// The default allowed prefixes of a side: the prefixes of the addresses configured on its TUN
/// (v4 and v6), read now in the calling thread's namespace.
pub fn tun_prefixes(name: &str) -> std::io::Result<Vec<Prefix>> {
    Ok(crate::iface::addresses(name)?
        .into_iter()
        .filter_map(|(addr, len)| Prefix::new(addr, len))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(src: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0];
        p.extend(src);
        p.extend([198, 51, 100, 1]);
        p
    }

    #[test]
    fn allowed_prefixes() {
        let list: PrefixList = "192.0.2.0/24,2001:db8::/32".parse().unwrap();
        let allowed = Allowed::from_prefixes(&list.0);
        assert_eq!(allowed.check(&v4([192, 0, 2, 7])), Ok(()));
        assert_eq!(allowed.check(&v4([192, 0, 3, 7])), Err(Cause::SpoofedInner));
        let mut v6 = vec![0x60; 40];
        v6[8..24].copy_from_slice(
            &"2001:db8::9"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert_eq!(allowed.check(&v6), Ok(()));
        v6[8] = 0x30;
        assert_eq!(allowed.check(&v6), Err(Cause::SpoofedInner));
        assert_eq!(allowed.check(&[0x45, 0, 0]), Err(Cause::Malformed));
        assert_eq!(allowed.check(&[0x20; 40]), Err(Cause::Malformed));
        assert_eq!(allowed.check(&[]), Err(Cause::Malformed));
        let any = Allowed::from_prefixes(&"any".parse::<PrefixList>().unwrap().0);
        assert_eq!(any, Allowed::any());
        assert_eq!(any.check(&v4([1, 2, 3, 4])), Ok(()));
        assert!(Allowed::default().check(&v4([1, 2, 3, 4])).is_err());
        assert!("192.0.2.0/33".parse::<Prefix>().is_err());
        assert!("nonsense".parse::<Prefix>().is_err());
        assert_eq!(
            "192.0.2.1".parse::<Prefix>().unwrap().to_string(),
            "192.0.2.1/32"
        );
    }

    #[test]
    fn policy_classes() {
        use Action::*;
        for (step, errno, action) in [
            (
                Step::UdpRecv,
                libc::ECONNREFUSED,
                Drop(Cause::PeerUnreachable),
            ),
            (Step::UdpSend, libc::EMSGSIZE, Drop(Cause::PathMtu)),
            (Step::UdpSend, libc::EACCES, Drop(Cause::Prohibited)),
            (Step::TunWrite, libc::EIO, Wait(Cause::TunDown)),
            (Step::TunWrite, libc::EINVAL, Drop(Cause::TunRefused)),
            (Step::TunRead, libc::EBADFD, End),
            (Step::UdpSend, libc::EBADF, End),
            (Step::UdpRecv, libc::ENOTSOCK, End),
            // Unknown errnos end the relay rather than being hidden.
            (Step::UdpRecv, libc::ELOOP, End),
        ] {
            assert_eq!(classify(step, Some(errno)), action, "{step:?} {errno}");
        }
        for (i, c) in Cause::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?}");
        }
    }
}
