//! Every `unsafe` call of the crate, each in a tiny wrapper with a `// SAFETY:` comment.
//!
//! The wrappers return plain `io::Result`s; the safe layers above attach the ioctl's name (see
//! [`crate::Error::Ioctl`]). Ioctl numbers and flag values come from libc (kernel-rules T1-T3), so no
//! number is written by hand here.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

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

/// TUNGETFEATURES: the IFF_* flags this kernel supports in TUNSETIFF (T5).
pub(crate) fn tungetfeatures(fd: BorrowedFd<'_>) -> io::Result<c_uint> {
    let mut features: c_uint = 0;
    // SAFETY: TUNGETFEATURES writes one `unsigned int` into the valid, exclusive `features`.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNGETFEATURES,
            &mut features as *mut c_uint,
        )
    })?;
    Ok(features)
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
    // SAFETY: TUNSETVNETHDRSZ reads one `int` through the pointer to the live local `size`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size as *const c_int) })?;
    Ok(())
}

/// TUNGETVNETHDRSZ: the header size in use.
pub(crate) fn tungetvnethdrsz(fd: BorrowedFd<'_>) -> io::Result<c_int> {
    let mut size: c_int = 0;
    // SAFETY: TUNGETVNETHDRSZ writes one `int` into the valid, exclusive `size`.
    cvt(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNGETVNETHDRSZ,
            &mut size as *mut c_int,
        )
    })?;
    Ok(size)
}

/// TUNSETVNETLE: little-endian header fields on (non-zero) or off (T13).
pub(crate) fn tunsetvnetle(fd: BorrowedFd<'_>, le: bool) -> io::Result<()> {
    let value = c_int::from(le);
    // SAFETY: TUNSETVNETLE reads one `int` through the pointer to the live local `value`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETLE, &value as *const c_int) })?;
    Ok(())
}

/// TUNGETVNETLE: whether header fields are little-endian.
pub(crate) fn tungetvnetle(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut value: c_int = 0;
    // SAFETY: TUNGETVNETLE writes one `int` into the valid, exclusive `value`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETVNETLE, &mut value as *mut c_int) })?;
    Ok(value != 0)
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

/// Whether the effective uid is 0.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
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
