//! Every `unsafe` call of the crate, each in a tiny wrapper with a `// SAFETY:` comment.
//!
//! The wrappers return plain `io::Result`s; the safe layers above attach the ioctl's name (see
//! [`crate::Error::Ioctl`]). Ioctl numbers and flag values come from libc (T1-T3), so no
//! number is written by hand here.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libc::{c_int, c_short, c_uint};

/// The TUN/TAP clone device.
pub(crate) const TUN_PATH: &str = "/dev/net/tun";

/// Runs `f` again while it fails with `EINTR`: a signal arriving during a blocking syscall is not
/// a failure of the operation.
pub(crate) fn retry_if_interrupted<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Opens `/dev/net/tun` read-write. std always adds `O_CLOEXEC`, so the fd does not leak into
/// children (the `ip` commands the tests and the demo spawn).
pub(crate) fn open_tun() -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(TUN_PATH)
}

/// Why an interface name cannot be used; mirrors the kernel's `dev_valid_name`.
pub(crate) fn check_if_name(name: &str) -> Result<(), &'static str> {
    if name.len() >= libc::IFNAMSIZ {
        Err("longer than 15 bytes (IFNAMSIZ - 1)")
    } else if name.contains('\0') {
        Err("contains a NUL byte")
    } else if name == "." || name == ".." {
        Err("is \".\" or \"..\"")
    } else if name.contains(['/', ':']) || name.contains(char::is_whitespace) {
        Err("contains '/', ':' or whitespace")
    } else {
        Ok(())
    }
}

/// A zeroed `ifreq` with `name` (already checked by [`check_if_name`]; may be empty, which asks
/// the kernel to pick `tun%d`/`tap%d`) and `flags`.
pub(crate) fn ifreq(name: &str, flags: c_int) -> libc::ifreq {
    debug_assert!(check_if_name(name).is_ok() || name.is_empty());
    // SAFETY: `ifreq` is plain old data (a char array and a union of integers, sockaddrs and a
    // pointer); all-zero bytes are a valid value of every field.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // The flags field is a C short; every IFF_* flag the kernel knows fits in 16 bits.
    req.ifr_ifru.ifru_flags = flags as c_short;
    req
}

/// The name in an `ifreq` filled by the kernel, up to the first NUL.
pub(crate) fn ifreq_name(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The flags in an `ifreq` filled by the kernel (TUNGETIFF).
pub(crate) fn ifreq_flags(req: &libc::ifreq) -> c_int {
    // SAFETY: every bit pattern is a valid `c_short`, and TUNGETIFF writes the flags member.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    // Zero-extend: IFF_TUN_EXCL is 0x8000, the sign bit of the short.
    c_int::from(flags as u16)
}

/// Maps the C convention (-1 and errno) to `io::Result`.
fn cvt(ret: c_int) -> io::Result<c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// TUNSETIFF: attach `fd` to a new or existing device. The kernel writes the final name back.
pub(crate) fn tunsetiff(fd: BorrowedFd<'_>, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, and `req` is a valid, exclusive one
    // for the duration of the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, req as *mut libc::ifreq) })?;
    Ok(())
}

/// `socket(2)` of the calling thread's network namespace, close-on-exec, owned.
fn socket(domain: c_int, kind: c_int, protocol: c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers; a non-negative result is a new descriptor we own.
    let raw = cvt(unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: `raw` was just returned by socket(2) and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// TUNGETIFF: name and flags of the device `fd` is attached to (EBADFD when it is not).
pub(crate) fn tungetiff(fd: BorrowedFd<'_>) -> io::Result<libc::ifreq> {
    let mut req = ifreq("", 0);
    // SAFETY: TUNGETIFF writes one `struct ifreq` into the valid, exclusive `req`.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNGETIFF,
            &mut req as *mut libc::ifreq,
        )
    })?;
    Ok(req)
}

/// The TUN ioctls that write one 4-byte integer (`int`, or `unsigned int` for TUNGETFEATURES)
/// through their pointer: the only ones [`ioctl_get_int`] issues, which makes it sound.
#[derive(Clone, Copy)]
enum GetInt {
    Features,
    VnetHdrSz,
    VnetLe,
}

/// The TUN ioctls that read one `int` through their pointer, for [`ioctl_set_int`].
#[derive(Clone, Copy)]
enum SetInt {
    VnetHdrSz,
    VnetLe,
}

/// One ioctl of [`GetInt`]: the integer it writes.
fn ioctl_get_int(fd: BorrowedFd<'_>, get: GetInt) -> io::Result<c_int> {
    let request = match get {
        GetInt::Features => libc::TUNGETFEATURES,
        GetInt::VnetHdrSz => libc::TUNGETVNETHDRSZ,
        GetInt::VnetLe => libc::TUNGETVNETLE,
    };
    let mut value: c_int = 0;
    // SAFETY: every `GetInt` ioctl writes one 4-byte integer into the valid, exclusive `value`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), request, &mut value as *mut c_int) })?;
    Ok(value)
}

/// One ioctl of [`SetInt`] with `value`.
fn ioctl_set_int(fd: BorrowedFd<'_>, set: SetInt, value: c_int) -> io::Result<()> {
    let request = match set {
        SetInt::VnetHdrSz => libc::TUNSETVNETHDRSZ,
        SetInt::VnetLe => libc::TUNSETVNETLE,
    };
    // SAFETY: every `SetInt` ioctl reads one `int` through the pointer to the live `value`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), request, &value as *const c_int) })?;
    Ok(())
}

/// TUNGETFEATURES: the IFF_* flags this kernel supports in TUNSETIFF (T5).
pub(crate) fn tungetfeatures(fd: BorrowedFd<'_>) -> io::Result<c_uint> {
    let features = ioctl_get_int(fd, GetInt::Features)?;
    // The kernel wrote an `unsigned int`: the same four bytes.
    Ok(c_uint::from_ne_bytes(features.to_ne_bytes()))
}

/// TUNSETOFFLOAD: the TUN_F_* bits, passed by value, not by pointer (T1).
pub(crate) fn tunsetoffload(fd: BorrowedFd<'_>, bits: c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value and touches no user memory.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(bits),
        )
    })?;
    Ok(())
}

/// TUNSETVNETHDRSZ: the header size, passed by pointer to an int (T12).
pub(crate) fn tunsetvnethdrsz(fd: BorrowedFd<'_>, size: c_int) -> io::Result<()> {
    ioctl_set_int(fd, SetInt::VnetHdrSz, size)
}

/// TUNGETVNETHDRSZ: the header size in use.
pub(crate) fn tungetvnethdrsz(fd: BorrowedFd<'_>) -> io::Result<c_int> {
    ioctl_get_int(fd, GetInt::VnetHdrSz)
}

/// TUNSETVNETLE: little-endian header fields on (non-zero) or off (T13).
pub(crate) fn tunsetvnetle(fd: BorrowedFd<'_>, le: bool) -> io::Result<()> {
    ioctl_set_int(fd, SetInt::VnetLe, c_int::from(le))
}

/// TUNGETVNETLE: whether header fields are little-endian.
pub(crate) fn tungetvnetle(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(ioctl_get_int(fd, GetInt::VnetLe)? != 0)
}

/// Sets or clears `O_NONBLOCK` on the open file description (shared with every dup of `fd`).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's status flags.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let flags = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: F_SETFL takes an int by value and only changes the descriptor's status flags.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) })?;
    Ok(())
}

/// `readv(2)`. `IoSliceMut` is documented to be ABI-compatible with `struct iovec` on Unix.
pub(crate) fn readv(fd: BorrowedFd<'_>, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
    let count = c_int::try_from(bufs.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `bufs` is a valid array of `count` iovecs, each describing a live, exclusively
    // borrowed buffer; the kernel writes at most each iovec's length into it.
    let n = unsafe {
        libc::readv(
            fd.as_raw_fd(),
            bufs.as_mut_ptr().cast::<libc::iovec>(),
            count,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `writev(2)`. `IoSlice` is documented to be ABI-compatible with `struct iovec` on Unix.
pub(crate) fn writev(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let count = c_int::try_from(bufs.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `bufs` is a valid array of `count` iovecs, each describing a live buffer that the
    // kernel only reads.
    let n = unsafe { libc::writev(fd.as_raw_fd(), bufs.as_ptr().cast::<libc::iovec>(), count) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Moves the calling thread into the network namespace `ns_fd` (an open `/var/run/netns/NAME`).
#[cfg(feature = "testkit")]
pub(crate) fn setns_net(ns_fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns only reads the descriptor number and changes the calling thread's namespace;
    // no memory is passed.
    cvt(unsafe { libc::setns(ns_fd.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// `if_nametoindex(3)` in the calling thread's network namespace.
pub(crate) fn if_nametoindex(name: &str) -> io::Result<u32> {
    let cname = CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `cname` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

// ---- Packet taps (AF_PACKET): what a device transmits, as the stack hands it over ----

/// A non-blocking `AF_PACKET`/`SOCK_DGRAM` socket of every protocol, bound to interface
/// `ifindex` of the calling thread's network namespace: it receives a copy of each packet the
/// interface sends or receives, without a link-layer header (a TUN device has none anyway).
#[cfg(feature = "testkit")]
pub(crate) fn packet_tap(ifindex: u32) -> io::Result<OwnedFd> {
    let all = (libc::ETH_P_ALL as u16).to_be();
    let fd = socket(
        libc::AF_PACKET,
        libc::SOCK_DGRAM | libc::SOCK_NONBLOCK,
        c_int::from(all),
    )?;
    // SAFETY: `sockaddr_ll` is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = all;
    addr.sll_ifindex = ifindex as c_int;
    // SAFETY: the address is a live, initialised `sockaddr_ll` read through a pointer with its
    // exact size as the length.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// One packet from a [`packet_tap`] into `buf`: its full length (more than `buf.len()` when it was
/// cut, `MSG_TRUNC`) and its `sll_pkttype` (`PACKET_OUTGOING` for what the interface sent).
#[cfg(feature = "testkit")]
pub(crate) fn recv_tapped(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, u8)> {
    // SAFETY: as above, all-zero is a valid `sockaddr_ll`.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut addr_len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `addr` and `addr_len` are live,
    // exclusively borrowed locals whose sizes match what the kernel is told.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::c_void>(),
            buf.len(),
            libc::MSG_TRUNC,
            (&mut addr as *mut libc::sockaddr_ll).cast::<libc::sockaddr>(),
            &mut addr_len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, addr.sll_pkttype))
}

/// Whether the effective uid is 0.
#[cfg(feature = "testkit")]
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

// ---- UDP sockets: options, batched send/receive with GSO/GRO control messages ----

/// `setsockopt(fd, level, name, &value, sizeof(int))`.
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: c_int,
    name: c_int,
    value: c_int,
) -> io::Result<()> {
    // SAFETY: the option value is one `int` read through a pointer to the live local `value`,
    // with its exact size as the length.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const c_int).cast::<libc::c_void>(),
            size_of::<c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// The most messages one [`sendmmsg`] or [`recvmmsg`] call takes; callers loop for more.
pub(crate) const MAX_MMSG: usize = 64;

/// Room for one control message carrying an `int` (UDP_GRO) or a `u16` (UDP_SEGMENT):
/// CMSG_SPACE(4) is 24 bytes on 64-bit Linux and 16 on 32-bit; 32 covers both. `u64` elements give
/// the buffer the alignment of `struct cmsghdr`.
type CmsgBuf = [u64; 4];

// One cmsghdr plus an `int` of data, each rounded up to the header's alignment, fits a CmsgBuf.
const _: () = assert!(size_of::<libc::cmsghdr>() + size_of::<u64>() <= size_of::<CmsgBuf>());

/// One datagram (or, with `segment_size`, one GSO train of datagrams) for [`sendmmsg`], gathered
/// from `iov` in order (the kernel copies the pieces into one message; a train's datagrams are cut
/// from the gathered bytes, so they may span pieces).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendMsg<'a> {
    /// The bytes, as the pieces of an iovec list; with `segment_size`, cut by the kernel into
    /// datagrams of that size (the last one may be shorter).
    pub(crate) iov: &'a [io::IoSlice<'a>],
    /// UDP_SEGMENT control message: the size of each datagram.
    pub(crate) segment_size: Option<u16>,
}

/// A zeroed `mmsghdr` array entry.
fn zeroed_mmsghdr() -> libc::mmsghdr {
    // SAFETY: `mmsghdr` is plain old data (pointers, lengths, flags); all-zero is a valid value
    // (null pointers with zero lengths).
    unsafe { std::mem::zeroed() }
}

/// `sendmmsg(2)` on a connected socket: sends up to [`MAX_MMSG`] messages in one call and
/// returns how many the kernel took (the caller sends the rest again).
pub(crate) fn sendmmsg(fd: BorrowedFd<'_>, msgs: &[SendMsg<'_>]) -> io::Result<usize> {
    let count = msgs.len().min(MAX_MMSG);
    let mut cmsgs: [CmsgBuf; MAX_MMSG] = [[0; 4]; MAX_MMSG];
    let mut hdrs = [zeroed_mmsghdr(); MAX_MMSG];
    for (i, msg) in msgs.iter().take(count).enumerate() {
        let hdr = &mut hdrs[i].msg_hdr;
        // `IoSlice` is ABI-compatible with `struct iovec` on Unix; the kernel only reads through
        // a send iovec list, the `*mut` is the C type's spelling.
        hdr.msg_iov = msg.iov.as_ptr().cast::<libc::iovec>().cast_mut();
        hdr.msg_iovlen = msg.iov.len() as _;
        if let Some(size) = msg.segment_size {
            hdr.msg_control = cmsgs[i].as_mut_ptr().cast::<libc::c_void>();
            // SAFETY: CMSG_SPACE is a pure computation on a constant size.
            hdr.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as _;
            // SAFETY: msg_control points to `cmsgs[i]`, aligned for cmsghdr and at least
            // msg_controllen bytes long, so CMSG_FIRSTHDR returns a non-null pointer into it and
            // the header plus CMSG_LEN(2) bytes of data fit inside; the u16 is written unaligned.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(hdr);
                (*cmsg).cmsg_level = libc::SOL_UDP;
                (*cmsg).cmsg_type = libc::UDP_SEGMENT;
                (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), size);
            }
        }
    }
    // SAFETY: `hdrs[..count]` are valid mmsghdrs whose iovec lists (borrowed `IoSlice`s, each
    // describing a live buffer) the kernel only reads and whose control buffers are live; all
    // outlive the call. An iovec list longer than UIO_MAXIOV is refused by the kernel (EMSGSIZE),
    // not read past.
    let n = unsafe { libc::sendmmsg(fd.as_raw_fd(), hdrs.as_mut_ptr(), count as c_uint, 0) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// What [`recvmmsg`] learnt about one received message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecvInfo {
    /// Bytes received.
    pub(crate) len: usize,
    /// The UDP_GRO control message: the size of each coalesced datagram (all but the last).
    pub(crate) gro_size: Option<usize>,
    /// MSG_TRUNC: the message was longer than the buffer.
    pub(crate) truncated: bool,
    /// Where the message came from (`msg_name`), when the kernel said and it is IPv4 or IPv6.
    pub(crate) source: Option<std::net::SocketAddr>,
}

/// The socket address in a `sockaddr_storage` the kernel filled (`len` bytes), if IPv4 or IPv6.
fn socket_addr(storage: &libc::sockaddr_storage, len: usize) -> Option<std::net::SocketAddr> {
    use std::net::{SocketAddrV4, SocketAddrV6};
    match c_int::from(storage.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and the kernel wrote at
            // least its size; sockaddr_storage is aligned for every sockaddr type.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(
                SocketAddrV4::new(
                    a.sin_addr.s_addr.to_ne_bytes().into(),
                    u16::from_be(a.sin_port),
                )
                .into(),
            )
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(
                SocketAddrV6::new(
                    a.sin6_addr.s6_addr.into(),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )
                .into(),
            )
        }
        _ => None,
    }
}

/// `recvmmsg(2)` with MSG_WAITFORONE: waits for the first message (or the socket's receive
/// timeout), then takes whatever else is queued, up to `bufs.len()` (at most [`MAX_MMSG`]).
/// Fills `infos[i]` for each message `i` received and returns how many.
pub(crate) fn recvmmsg(
    fd: BorrowedFd<'_>,
    bufs: &mut [io::IoSliceMut<'_>],
    infos: &mut [RecvInfo],
) -> io::Result<usize> {
    let count = bufs.len().min(infos.len()).min(MAX_MMSG);
    let mut cmsgs: [CmsgBuf; MAX_MMSG] = [[0; 4]; MAX_MMSG];
    // SAFETY: `sockaddr_storage` is plain old data; all-zero is a valid value (AF_UNSPEC).
    let mut names: [libc::sockaddr_storage; MAX_MMSG] = unsafe { std::mem::zeroed() };
    let mut hdrs = [zeroed_mmsghdr(); MAX_MMSG];
    for i in 0..count {
        let hdr = &mut hdrs[i].msg_hdr;
        hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast::<libc::c_void>();
        hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // `IoSliceMut` is ABI-compatible with `struct iovec` on Unix.
        hdr.msg_iov = (&mut bufs[i] as *mut io::IoSliceMut<'_>).cast::<libc::iovec>();
        hdr.msg_iovlen = 1;
        hdr.msg_control = cmsgs[i].as_mut_ptr().cast::<libc::c_void>();
        hdr.msg_controllen = size_of::<CmsgBuf>() as _;
    }
    // SAFETY: `hdrs[..count]` are valid mmsghdrs, each with one iovec describing a live,
    // exclusively borrowed buffer, a live name buffer of msg_namelen bytes and a live control
    // buffer of msg_controllen bytes; the kernel writes within those lengths. A null timeout means "use the socket's SO_RCVTIMEO".
    let n = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            count as c_uint,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    for ((hdr, info), name) in hdrs.iter().zip(infos.iter_mut()).zip(&names).take(n) {
        let mut gro_size = None;
        // SAFETY: the kernel set msg_controllen to the bytes of control data it wrote into
        // the live buffer msg_control points to; CMSG_FIRSTHDR/CMSG_NXTHDR stay within it and
        // return null at its end. The int is read unaligned.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&hdr.msg_hdr);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == libc::UDP_GRO {
                    let size = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>());
                    gro_size = usize::try_from(size).ok().filter(|&s| s > 0);
                }
                cmsg = libc::CMSG_NXTHDR(&hdr.msg_hdr, cmsg);
            }
        }
        *info = RecvInfo {
            len: hdr.msg_len as usize,
            gro_size,
            truncated: hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            source: socket_addr(name, hdr.msg_hdr.msg_namelen as usize),
        };
    }
    Ok(n)
}

/// `poll(2)` for readability of one fd: waits at most `timeout_ms` milliseconds (0 = just look)
/// and says whether the fd became readable. `EINTR` counts as "not yet readable".
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: c_int) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid, exclusively borrowed `pollfd` for the duration of the call, and
    // the count passed is 1.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    match n {
        -1 => {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(err)
            }
        }
        0 => Ok(false),
        _ => Ok(pfd.revents & libc::POLLIN != 0),
    }
}

// ---- scheduling: `kernel::KernelCoalescer`'s one-batch writes ----

/// A thread's (or, for a kthread, a task's) CPU affinity, to restore later.
#[derive(Clone, Copy)]
#[cfg(feature = "testkit")]
pub(crate) struct CpuSet(libc::cpu_set_t);

/// The affinity of task `pid` (0: the calling thread).
#[cfg(feature = "testkit")]
pub(crate) fn affinity(pid: libc::pid_t) -> io::Result<CpuSet> {
    // SAFETY: cpu_set_t is plain bits; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed cpu_set_t of the size passed.
    cvt(unsafe { libc::sched_getaffinity(pid, size_of::<libc::cpu_set_t>(), &mut set) })?;
    Ok(CpuSet(set))
}

/// Sets the affinity of task `pid` (0: the calling thread).
#[cfg(feature = "testkit")]
pub(crate) fn set_affinity(pid: libc::pid_t, set: &CpuSet) -> io::Result<()> {
    // SAFETY: `set.0` is a valid cpu_set_t of the size passed, only read by the call.
    cvt(unsafe { libc::sched_setaffinity(pid, size_of::<libc::cpu_set_t>(), &set.0) })?;
    Ok(())
}

/// The set holding one CPU.
#[cfg(feature = "testkit")]
pub(crate) fn one_cpu(cpu: usize) -> CpuSet {
    // SAFETY: cpu_set_t is plain bits; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET indexes the set's fixed array (a CPU beyond its 1024 bits panics).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    CpuSet(set)
}

/// Makes the calling thread SCHED_FIFO at the lowest real-time priority (`true`) or SCHED_OTHER
/// again (`false`).
#[cfg(feature = "testkit")]
pub(crate) fn set_realtime(on: bool) -> io::Result<()> {
    let (policy, priority) = if on {
        (libc::SCHED_FIFO, 1)
    } else {
        (libc::SCHED_OTHER, 0)
    };
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param, only read by the call; pid 0 is the calling thread.
    cvt(unsafe { libc::sched_setscheduler(0, policy, &param) })?;
    Ok(())
}

// ---- signals: stop (SIGINT, SIGTERM, SIGHUP) and report (SIGUSR1) ----

/// Set by the stop handler; read by anyone.
static STOP_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The last stop signal's number (0: none yet).
static STOP_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// Set by the SIGUSR1 handler; whoever reports clears it.
static USR1_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The stop handler: only atomic stores, which are async-signal-safe.
extern "C" fn on_stop(signal: c_int) {
    STOP_SIGNAL.store(signal, std::sync::atomic::Ordering::SeqCst);
    STOP_SEEN.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The SIGUSR1 handler: only an atomic store.
extern "C" fn on_usr1(_signal: c_int) {
    USR1_SEEN.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Installs `handler` for each of `signals`, without SA_RESTART: a blocking call interrupted by
/// the signal returns EINTR, so loops see the flag promptly.
fn install(signals: &[c_int], handler: extern "C" fn(c_int)) -> io::Result<()> {
    // SAFETY: `sigaction` is plain old data; all-zero is a valid value (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as libc::sighandler_t;
    // SAFETY: `action.sa_mask` is a valid sigset_t to initialise.
    cvt(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
    for &signal in signals {
        // SAFETY: `action` is a valid sigaction whose handler only performs atomic stores
        // (async-signal-safe); the old action is not wanted (null).
        cvt(unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) })?;
    }
    Ok(())
}

/// Installs one handler for SIGINT, SIGTERM and SIGHUP that only sets a flag, and returns the
/// flag: Ctrl-C, `kill`, `timeout`, systemd and container runtimes (SIGTERM) and a closed
/// terminal (SIGHUP) all stop a program the same way, so it can clean up.
pub(crate) fn catch_stop_signals() -> io::Result<&'static std::sync::atomic::AtomicBool> {
    install(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP], on_stop)?;
    Ok(&STOP_SEEN)
}

/// The number of the last stop signal caught (0: none).
pub(crate) fn stop_signal() -> c_int {
    STOP_SIGNAL.load(std::sync::atomic::Ordering::SeqCst)
}

/// Installs a SIGUSR1 handler that only sets the returned flag ("print your counters").
pub(crate) fn catch_sigusr1() -> io::Result<&'static std::sync::atomic::AtomicBool> {
    install(&[libc::SIGUSR1], on_usr1)?;
    Ok(&USR1_SEEN)
}

// ---- interface addresses ----

/// The number of leading one bits of a netmask (its prefix length).
fn prefix_len(mask: &[u8]) -> u8 {
    let mut total = 0;
    for byte in mask {
        total += byte.leading_ones();
        if *byte != 0xff {
            break;
        }
    }
    total as u8
}

/// `getifaddrs(3)`: the IPv4 and IPv6 addresses configured on interface `name` in the calling
/// thread's network namespace, each with its prefix length.
pub(crate) fn if_addresses(name: &str) -> io::Result<Vec<(std::net::IpAddr, u8)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a pointer to a list it allocated into the valid `head`.
    cvt(unsafe { libc::getifaddrs(&mut head) })?;
    let mut found = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() || ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let ifname = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if ifname.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr points to a sockaddr of at least sa_family's size.
        let family = c_int::from(unsafe { (*ifa.ifa_addr).sa_family });
        let entry = match family {
            libc::AF_INET => {
                // SAFETY: an AF_INET address is a sockaddr_in; the netmask, when present, too.
                let (addr, mask) = unsafe {
                    let a = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                    let m = ifa.ifa_netmask.cast::<libc::sockaddr_in>().as_ref();
                    (
                        a.sin_addr.s_addr.to_ne_bytes(),
                        m.map(|m| m.sin_addr.s_addr.to_ne_bytes()),
                    )
                };
                let len = mask.map_or(32, |m| prefix_len(&m));
                (std::net::IpAddr::from(addr), len)
            }
            libc::AF_INET6 => {
                // SAFETY: an AF_INET6 address is a sockaddr_in6; the netmask, when present, too.
                let (addr, mask) = unsafe {
                    let a = &*ifa.ifa_addr.cast::<libc::sockaddr_in6>();
                    let m = ifa.ifa_netmask.cast::<libc::sockaddr_in6>().as_ref();
                    (a.sin6_addr.s6_addr, m.map(|m| m.sin6_addr.s6_addr))
                };
                let len = mask.map_or(128, |m| prefix_len(&m));
                (std::net::IpAddr::from(addr), len)
            }
            _ => continue,
        };
        found.push(entry);
    }
    // SAFETY: `head` came from getifaddrs and is freed once; no reference into it survives.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

// ---- advisory file locks ----

/// `flock(fd, LOCK_EX | LOCK_NB)`: true if this open file now holds the lock, false if another
/// holds it. The kernel drops the lock when the last fd of the open file closes, also when its
/// process is killed (SIGKILL included): a lock nobody holds means its owner is gone.
#[cfg(feature = "testkit")]
pub(crate) fn try_lock_exclusive(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: flock takes an fd and flags, no pointers.
    match cvt(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(err) => Err(err),
    }
}

// ---- raw IP sockets (test fixtures: forged ICMP errors and wire datagrams) ----

/// Sends `packet` (a whole IPv4 packet, header included: IP_HDRINCL) from a raw socket of the
/// calling thread's network namespace to `dst`.
#[cfg(feature = "testkit")]
pub(crate) fn send_raw_ipv4(packet: &[u8], dst: std::net::Ipv4Addr) -> io::Result<()> {
    let fd = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)?;
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(dst.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `packet` is valid for reads of its length; `addr` is a live sockaddr_in passed
    // with its exact size.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            packet.as_ptr().cast::<libc::c_void>(),
            packet.len(),
            0,
            (&addr as *const libc::sockaddr_in).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// vnet-core's AVX2 checksum ([`vnet_core::csum::avx2`]), usable only on a CPU that has AVX2.
///
/// The one way to get a value of this type is [`Avx2::detect`], which checks the CPU first (the
/// field is private to this module), so holding one proves that AVX2 instructions may run: that is
/// what makes the calls below sound.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// The AVX2 sum, if this CPU (and OS: the check includes XSAVE support for the YMM state) has
    /// AVX2.
    pub fn detect() -> Option<Avx2> {
        std::arch::is_x86_feature_detected!("avx2").then_some(Avx2(()))
    }
}

/// The [`vnet_core::csum::Summer`] of a SIMD sum whose value proves (by its `detect`) that the
/// CPU has the instructions: one body for every such sum, so that the short-data cut-off and the
/// safety argument have one home.
macro_rules! simd_summer {
    ($ty:ident, $module:ident) => {
        #[cfg(target_arch = "x86_64")]
        impl vnet_core::csum::Summer for $ty {
            #[inline]
            fn sum(self, data: &[u8]) -> u16 {
                // Short data (headers) is summed as fast by the inlined portable code as by a call.
                if data.len() <= 64 {
                    return vnet_core::csum::sum(data);
                }
                // SAFETY: `self` exists, so its `detect` saw the instructions on this CPU; the
                // callee's only requirement beyond its safe signature is that the CPU has them.
                unsafe { vnet_core::csum::$module::sum(data) }
            }

            #[inline]
            fn copy_and_sum(self, dst: &mut [u8], src: &[u8]) -> Option<u16> {
                // SAFETY: as in `sum`: `self` proves the CPU has the instructions, the callee's
                // only extra requirement.
                unsafe { vnet_core::csum::$module::copy_and_sum(dst, src) }
            }
        }
    };
}

simd_summer!(Avx2, avx2);

/// vnet-core's AVX-512 checksum ([`vnet_core::csum::avx512`]), usable only on a CPU that has
/// AVX-512 F and BW.
///
/// As with [`Avx2`], the one way to get a value of this type is [`Avx512::detect`], which checks
/// the CPU first, so holding one proves that AVX-512 F and BW instructions may run.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Avx512(());

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    /// The AVX-512 sum, if this CPU (and OS: the check includes XSAVE support for the ZMM and
    /// mask state) has AVX-512 F and BW.
    pub fn detect() -> Option<Avx512> {
        (std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw"))
        .then_some(Avx512(()))
    }
}

simd_summer!(Avx512, avx512);

// ---- link configuration: rtnetlink (`crate::link`) and the interface ioctls ----

/// A `NETLINK_ROUTE` socket of the calling thread's network namespace, talking to the kernel (the
/// kernel binds it on the first send).
pub(crate) fn netlink_route() -> io::Result<OwnedFd> {
    socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)
}

/// Sends one netlink request to the kernel (an unconnected netlink socket sends to port 0, the
/// kernel). A short send is an error: a datagram goes whole or not at all.
pub(crate) fn netlink_send(fd: BorrowedFd<'_>, msg: &[u8]) -> io::Result<()> {
    let n = retry_if_interrupted(|| {
        // SAFETY: `msg` is valid for reads of its length for the duration of the call.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                msg.as_ptr().cast::<libc::c_void>(),
                msg.len(),
                0,
            )
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    })?;
    if n == msg.len() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short netlink send",
        ))
    }
}

/// Receives one netlink datagram into `buf`; returns its full length, which is more than
/// `buf.len()` when it was cut (MSG_TRUNC).
pub(crate) fn netlink_recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    retry_if_interrupted(|| {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast::<libc::c_void>(),
                buf.len(),
                libc::MSG_TRUNC,
            )
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    })
}

/// `if_indextoname(3)` in the calling thread's network namespace.
pub(crate) fn if_indextoname(index: u32) -> io::Result<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` is a live, exclusively borrowed buffer of IF_NAMESIZE bytes, the size the
    // call writes at most (NUL included).
    let ret = unsafe { libc::if_indextoname(index, name.as_mut_ptr()) };
    if ret.is_null() {
        return Err(io::Error::last_os_error());
    }
    let bytes: Vec<u8> = name
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// An `ifreq` for `name` filled by the interface ioctl `request` (SIOCGIFMTU, SIOCGIFFLAGS) on a
/// throw-away UDP socket of the calling thread's network namespace.
fn if_ioctl_get(name: &str, request: libc::Ioctl) -> io::Result<libc::ifreq> {
    check_if_name(name).map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
    let fd = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    let mut req = ifreq(name, 0);
    // SAFETY: both requests read the name and write one member of the valid, exclusive `req`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), request, &mut req as *mut libc::ifreq) })?;
    Ok(req)
}

/// SIOCGIFMTU: the MTU of interface `name`.
pub(crate) fn if_mtu(name: &str) -> io::Result<u32> {
    let req = if_ioctl_get(name, libc::SIOCGIFMTU)?;
    // SAFETY: SIOCGIFMTU wrote the `ifru_mtu` member; every bit pattern is a valid int.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    u32::try_from(mtu).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative MTU"))
}

/// SIOCGIFFLAGS: the IFF_* flags of interface `name` (IFF_UP, IFF_RUNNING, ...).
pub(crate) fn if_flags(name: &str) -> io::Result<u32> {
    let req = if_ioctl_get(name, libc::SIOCGIFFLAGS)?;
    Ok(ifreq_flags(&req) as u32)
}

// ---- tokio (`crate::tokio`) ----

/// Registers `device` with the current tokio reactor (`AsyncFd::register_with_interest`); a
/// failure gives the device back with its error.
#[cfg(feature = "tokio")]
pub(crate) fn register_with_tokio(
    device: crate::Device,
    interest: ::tokio::io::Interest,
) -> Result<::tokio::io::unix::AsyncFd<crate::Device>, (crate::Device, io::Error)> {
    // SAFETY: tokio needs the fd `as_raw_fd` returns to stay open, the same file description, and
    // the same number for as long as the `AsyncFd` owns the device. A `Device` owns its fd (a
    // `File` field that nothing replaces or closes while the device lives), and only giving the
    // device up (drop, `From<Device> for OwnedFd`) ends that, which the `AsyncFd` rules out until
    // it is dropped or `into_inner` returns the device.
    unsafe { ::tokio::io::unix::AsyncFd::register_with_interest(device, interest) }
        .map_err(|err| err.into_parts())
}
