//! Link configuration through the kernel's own interfaces, with no `ip` binary: MTU, up/down and
//! IPv4/IPv6 addresses by rtnetlink (RTM_NEWLINK, RTM_NEWADDR, RTM_DELADDR on a NETLINK_ROUTE
//! socket, each acknowledged: T21), read back with the interface ioctls (SIOCGIFMTU,
//! SIOCGIFFLAGS) and `getifaddrs` ([`crate::iface::addresses`]).
//!
//! Everything acts in the calling thread's network namespace, as `ip` does. A kernel refusal is
//! the `io::Error` of its errno (EPERM without CAP_NET_ADMIN, ENODEV, EEXIST for an address
//! already there, EINVAL for an MTU outside the device's range); a reply that does not parse is an
//! `io::Error` of kind `InvalidData` carrying a [`ReplyError`]. Messages are built and parsed here
//! in safe code; the socket calls are in `sys`.
//!
//! ```no_run
//! use vnet_host::link::{self, Link};
//! link::set_mtu(Link::Name("tun0"), 1420)?;
//! link::add_address(Link::Name("tun0"), "192.0.2.1".parse().unwrap(), 24)?;
//! link::set_up(Link::Name("tun0"), true)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys;
use crate::{Error, Result};

/// An interface, by name or by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Link<'a> {
    /// By name, looked up in the calling thread's namespace at each call (`if_nametoindex`).
    Name(&'a str),
    /// By index.
    Index(u32),
}

impl Link<'_> {
    /// The interface index.
    pub fn index(self) -> io::Result<u32> {
        match self {
            Link::Name(name) => sys::if_nametoindex(name),
            Link::Index(index) => Ok(index),
        }
    }

    /// The interface name.
    pub fn name(self) -> io::Result<String> {
        match self {
            Link::Name(name) => Ok(name.to_owned()),
            Link::Index(index) => sys::if_indextoname(index),
        }
    }
}

/// Sets the MTU (RTM_NEWLINK with IFLA_MTU). The kernel refuses one outside the device's
/// min/max with EINVAL.
pub fn set_mtu(link: Link<'_>, mtu: u32) -> io::Result<()> {
    let mut msg = Request::new(libc::RTM_NEWLINK, 0);
    msg.ifinfo(link.index()?, 0, 0);
    msg.attr(libc::IFLA_MTU, &mtu.to_ne_bytes());
    msg.transact()
}

/// Brings the link up or down (RTM_NEWLINK changing IFF_UP only).
pub fn set_up(link: Link<'_>, up: bool) -> io::Result<()> {
    let up_flag = libc::IFF_UP as u32;
    let mut msg = Request::new(libc::RTM_NEWLINK, 0);
    msg.ifinfo(link.index()?, if up { up_flag } else { 0 }, up_flag);
    msg.transact()
}

/// Adds `addr/prefix` (RTM_NEWADDR; an address already there is EEXIST). The prefix must be at
/// most 32 for IPv4 and 128 for IPv6, else `InvalidInput` before anything is sent.
pub fn add_address(link: Link<'_>, addr: IpAddr, prefix: u8) -> io::Result<()> {
    let flags = libc::NLM_F_CREATE | libc::NLM_F_EXCL;
    address(libc::RTM_NEWADDR, flags, link, addr, prefix)
}

/// Removes `addr/prefix` (RTM_DELADDR; an address not there is EADDRNOTAVAIL).
pub fn remove_address(link: Link<'_>, addr: IpAddr, prefix: u8) -> io::Result<()> {
    address(libc::RTM_DELADDR, 0, link, addr, prefix)
}

/// The MTU (SIOCGIFMTU).
pub fn mtu(link: Link<'_>) -> io::Result<u32> {
    sys::if_mtu(&link.name()?)
}

/// Whether the link is administratively up (IFF_UP of SIOCGIFFLAGS).
pub fn is_up(link: Link<'_>) -> io::Result<bool> {
    Ok(sys::if_flags(&link.name()?)? & libc::IFF_UP as u32 != 0)
}

impl crate::Device {
    /// Sets this device's MTU ([`set_mtu`]), e.g. 1420 for a WireGuard-style tunnel or 9000
    /// for jumbo frames; looked up by name in the calling thread's namespace.
    pub fn set_mtu(&self, mtu: u32) -> Result<()> {
        set_mtu(Link::Name(self.name()), mtu).map_err(Error::io("rtnetlink RTM_NEWLINK (mtu)"))
    }

    /// This device's MTU ([`mtu`]).
    pub fn mtu(&self) -> Result<u32> {
        mtu(Link::Name(self.name())).map_err(Error::io("SIOCGIFMTU"))
    }

    /// Brings this device up or down ([`set_up`]).
    pub fn set_up(&self, up: bool) -> Result<()> {
        set_up(Link::Name(self.name()), up).map_err(Error::io("rtnetlink RTM_NEWLINK (up)"))
    }

    /// Whether this device is up ([`is_up`]).
    pub fn is_up(&self) -> Result<bool> {
        is_up(Link::Name(self.name())).map_err(Error::io("SIOCGIFFLAGS"))
    }

    /// Adds `addr/prefix` to this device ([`add_address`]).
    pub fn add_address(&self, addr: IpAddr, prefix: u8) -> Result<()> {
        add_address(Link::Name(self.name()), addr, prefix)
            .map_err(Error::io("rtnetlink RTM_NEWADDR"))
    }

    /// Removes `addr/prefix` from this device ([`remove_address`]).
    pub fn remove_address(&self, addr: IpAddr, prefix: u8) -> Result<()> {
        remove_address(Link::Name(self.name()), addr, prefix)
            .map_err(Error::io("rtnetlink RTM_DELADDR"))
    }
}

fn address(kind: u16, flags: i32, link: Link<'_>, addr: IpAddr, prefix: u8) -> io::Result<()> {
    let (family, bytes, max): (u8, Vec<u8>, u8) = match addr {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec(), 32),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec(), 128),
    };
    if prefix > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("prefix /{prefix} is longer than {max} bits"),
        ));
    }
    let mut msg = Request::new(kind, flags as u16);
    msg.ifaddr(family, prefix, link.index()?);
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on point-to-point links,
    // else the same: `ip addr add` sends both the same way.
    msg.attr(libc::IFA_LOCAL, &bytes);
    msg.attr(libc::IFA_ADDRESS, &bytes);
    msg.transact()
}

/// The largest reply this module reads: an acknowledgement is 36 bytes plus the echoed request
/// (well under 1 KiB); anything bigger is cut and reported, never grown into.
const REPLY_MAX: usize = 8192;

/// At most this many datagrams are read while waiting for the acknowledgement; messages that are
/// not it (there should be none on a fresh socket) are skipped, and the wait stays bounded.
const REPLIES_MAX: usize = 16;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;

/// A reply from the kernel that is not a well-formed acknowledgement of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyError {
    /// A datagram longer than the receive buffer (its length).
    Truncated(usize),
    /// A message whose length field is shorter than its header or runs past the datagram.
    BadLength {
        /// The message's length field.
        len: usize,
        /// The bytes left in the datagram from the message on.
        have: usize,
    },
    /// An NLMSG_ERROR too short to hold its error code.
    ShortError(usize),
    /// No acknowledgement in the first 16 datagrams read.
    NoAck,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(len) => write!(f, "rtnetlink reply of {len} bytes was cut"),
            Self::BadLength { len, have } => write!(
                f,
                "rtnetlink message length {len} does not fit the {have} bytes left"
            ),
            Self::ShortError(len) => write!(f, "rtnetlink error message of {len} bytes"),
            Self::NoAck => write!(f, "no rtnetlink acknowledgement"),
        }
    }
}

impl std::error::Error for ReplyError {}

impl From<ReplyError> for io::Error {
    fn from(err: ReplyError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// One rtnetlink request: header, family header, attributes, each 4-byte aligned.
struct Request {
    bytes: Vec<u8>,
    seq: u32,
}

impl Request {
    fn new(kind: u16, flags: u16) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(1);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let flags = flags | (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set by `finish`
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel fills it in
        Self { bytes, seq }
    }

    /// `struct ifinfomsg`: family AF_UNSPEC, the index, and the flags to set within `change`.
    fn ifinfo(&mut self, index: u32, flags: u32, change: u32) {
        self.bytes.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
        self.bytes.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
        self.bytes.extend_from_slice(&index.to_ne_bytes());
        self.bytes.extend_from_slice(&flags.to_ne_bytes());
        self.bytes.extend_from_slice(&change.to_ne_bytes());
    }

    /// `struct ifaddrmsg`: family, prefix length, no flags, global scope, the index.
    fn ifaddr(&mut self, family: u8, prefix: u8, index: u32) {
        self.bytes
            .extend_from_slice(&[family, prefix, 0, libc::RT_SCOPE_UNIVERSE]);
        self.bytes.extend_from_slice(&index.to_ne_bytes());
    }

    /// One `struct rtattr` and its payload, padded to 4 bytes.
    fn attr(&mut self, kind: u16, payload: &[u8]) {
        let len = 4 + payload.len();
        self.bytes.extend_from_slice(&(len as u16).to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(payload);
        self.bytes.resize(align4(self.bytes.len()), 0);
    }

    /// Sends the request on a fresh socket and waits for its acknowledgement.
    fn transact(mut self) -> io::Result<()> {
        let len = self.bytes.len() as u32;
        if let Some(field) = self.bytes.get_mut(..4) {
            field.copy_from_slice(&len.to_ne_bytes());
        }
        let fd = sys::netlink_route()?;
        sys::netlink_send(fd.as_fd(), &self.bytes)?;
        let mut buf = vec![0u8; REPLY_MAX];
        for _ in 0..REPLIES_MAX {
            let n = sys::netlink_recv(fd.as_fd(), &mut buf)?;
            let datagram = buf.get(..n).ok_or(ReplyError::Truncated(n))?;
            if let Some(result) = ack_in(datagram, self.seq)? {
                return result;
            }
        }
        Err(ReplyError::NoAck.into())
    }
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Reads a native-endian u32 at `at`, if it is there.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(b.try_into().ok()?))
}

/// The acknowledgement of request `seq` in one datagram, if it holds one: `Ok(())` for error code
/// 0, the errno's `io::Error` otherwise (see [`parse_ack`]).
fn ack_in(datagram: &[u8], seq: u32) -> Result<Option<io::Result<()>>, ReplyError> {
    Ok(parse_ack(datagram, seq)?.map(|errno| match errno {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }))
}

/// Reads one rtnetlink datagram for the acknowledgement (NLMSG_ERROR) of request `seq`: `Some(0)`
/// for success, `Some(errno)` for a refusal, `None` when the datagram holds no such message.
/// Messages of other sequence numbers or types are skipped; a length field shorter than a header
/// or running past the datagram, or an error message too short for its code, is a
/// [`ReplyError`]. Bounded by the datagram (every step advances by at least a header), no
/// allocation, no panic: the fuzz target `netlink_ack` holds it to that.
pub fn parse_ack(datagram: &[u8], seq: u32) -> Result<Option<i32>, ReplyError> {
    let mut rest = datagram;
    while !rest.is_empty() {
        let have = rest.len();
        let len = u32_at(rest, 0).ok_or(ReplyError::BadLength { len: have, have })? as usize;
        if len < NLMSG_HDRLEN || len > have {
            return Err(ReplyError::BadLength { len, have });
        }
        let msg = rest.get(..len).unwrap_or_default();
        let kind = msg
            .get(4..6)
            .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]));
        let msg_seq = u32_at(msg, 8).unwrap_or(0);
        if kind == NLMSG_ERROR && msg_seq == seq {
            let code = u32_at(msg, NLMSG_HDRLEN).ok_or(ReplyError::ShortError(len))? as i32;
            // The kernel sends -errno; i32::MIN cannot be negated and is kept as it is.
            return Ok(Some(code.checked_neg().unwrap_or(code)));
        }
        rest = rest.get(align4(len).min(have)..).unwrap_or_default();
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NLMSG_ERROR message for `seq` with `code`, echoing a 16-byte header.
    fn error_msg(seq: u32, code: i32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&code.to_ne_bytes());
        m.extend_from_slice(&[0u8; 16]);
        m
    }

    #[test]
    fn t21_an_ack_is_ok_and_an_error_is_its_errno() {
        assert!(matches!(ack_in(&error_msg(7, 0), 7), Ok(Some(Ok(())))));
        let err = ack_in(&error_msg(7, -libc::EEXIST), 7)
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
    }

    #[test]
    fn t21_other_sequence_numbers_are_skipped() {
        let mut two = error_msg(6, -libc::EPERM);
        two.extend(error_msg(7, 0));
        assert!(matches!(ack_in(&two, 7), Ok(Some(Ok(())))));
        assert!(matches!(ack_in(&error_msg(6, 0), 7), Ok(None)));
    }

    /// Lengths shorter than a header, past the datagram or cut anywhere are typed errors, never
    /// a panic or a loop.
    #[test]
    fn t21_malformed_replies_are_typed_errors() {
        let good = error_msg(7, 0);
        for cut in 0..good.len() {
            let r = ack_in(&good[..cut], 7);
            assert!(cut == 0 || r.is_err(), "cut at {cut}: {r:?}");
        }
        for len in [0u32, 15, 37, u32::MAX] {
            let mut bad = good.clone();
            bad[..4].copy_from_slice(&len.to_ne_bytes());
            assert!(matches!(ack_in(&bad, 7), Err(ReplyError::BadLength { .. })));
        }
        let mut short = good[..20].to_vec();
        short[..4].copy_from_slice(&16u32.to_ne_bytes());
        short.truncate(16);
        assert!(matches!(ack_in(&short, 7), Err(ReplyError::ShortError(16))));
    }

    /// A datagram of messages `(type, seq, code, length change)`, each a 36-byte NLMSG_ERROR
    /// shape with its length field moved by the change, cut at `cut` bytes.
    fn datagram(msgs: &[(u16, u32, i32, i8)], cut: usize) -> Vec<u8> {
        let mut d = Vec::new();
        for &(kind, seq, code, delta) in msgs {
            let mut m = error_msg(seq, code);
            m[4..6].copy_from_slice(&kind.to_ne_bytes());
            let len = (36i64 + i64::from(delta)).max(0) as u32;
            m[..4].copy_from_slice(&len.to_ne_bytes());
            d.extend(m);
        }
        d.truncate(cut);
        d
    }

    proptest::proptest! {
        /// Any bytes at all: an answer or a typed error, never a panic.
        #[test]
        fn t21_any_reply_parses_or_is_refused(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            seq in 0u32..4,
        ) {
            let _ = ack_in(&bytes, seq);
        }

        /// Near-valid replies (real message shapes with lengths a little off, other types and
        /// sequence numbers, cut anywhere): never a panic; and when every length is right and
        /// nothing is cut, the answer is the first matching message's code.
        #[test]
        fn t21_near_valid_replies(
            msgs in proptest::collection::vec(
                (proptest::sample::select(vec![2u16, 3, 16, 20]), 0u32..3, -5i32..=0, -3i8..=3),
                0..5,
            ),
            cut in 0usize..200,
        ) {
            let got = ack_in(&datagram(&msgs, cut), 1);
            let exact = msgs.iter().all(|m| m.3 == 0) && cut >= 36 * msgs.len();
            if exact {
                let want = msgs.iter().find(|m| m.0 == NLMSG_ERROR && m.1 == 1).map(|m| m.2);
                let got = got.unwrap().map(|r| r.map_or_else(|e| -e.raw_os_error().unwrap(), |()| 0));
                proptest::prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn requests_are_aligned_and_carry_their_length() {
        let mut msg = Request::new(libc::RTM_NEWADDR, 0);
        msg.ifaddr(libc::AF_INET as u8, 24, 3);
        msg.attr(libc::IFA_LOCAL, &[192, 0, 2, 1]);
        msg.attr(1000, &[1, 2, 3]);
        assert_eq!(msg.bytes.len(), 16 + 8 + 8 + 8);
        assert_eq!(
            &msg.bytes[32..34],
            &7u16.to_ne_bytes(),
            "rtattr length excludes padding"
        );
    }
}
