//! The one error type of the device layer: each variant says what failed and where.

use std::fmt;
use std::io;

use vnet_core::check::CheckError;
use vnet_core::gro::GroError;
use vnet_core::gso::GsoError;
use vnet_core::hdr::HdrError;
use vnet_core::meta::MetaError;
use vnet_core::virtio::FeatureError;
use vnet_core::wire;

use crate::offload::OffloadRule;

/// What went wrong while opening, configuring or using a TUN/TAP device.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call other than an ioctl failed (`open /dev/net/tun`, `fcntl`, `readv`, `writev`).
    Io {
        /// The call, e.g. `"readv"`.
        op: &'static str,
        /// The errno.
        source: io::Error,
    },
    /// A TUN ioctl failed; `op` is the ioctl's name, `source` the errno.
    Ioctl {
        /// The ioctl, e.g. `"TUNSETOFFLOAD"`.
        op: &'static str,
        /// The errno.
        source: io::Error,
    },
    /// A non-blocking read or write found nothing to do (`EAGAIN`); wait for readiness and retry.
    WouldBlock,
    /// The interface name cannot be used (the kernel's `dev_valid_name`).
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// An adopted device's vnet header size is not one of vnet-core's layouts (10, 12, 20, 24).
    UnsupportedHeaderSize(usize),
    /// TUNGETVNETHDRSZ did not return what TUNSETVNETHDRSZ set.
    HeaderSizeMismatch {
        /// What was set.
        requested: usize,
        /// What the kernel reports.
        actual: usize,
    },
    /// An adopted fd is attached to a device without IFF_VNET_HDR: packets would carry no header,
    /// so no offload could ever be used. Reopen it with IFF_VNET_HDR.
    NoVnetHeader {
        /// The device name.
        name: String,
        /// The IFF_* flags from TUNGETIFF.
        flags: u32,
    },
    /// An adopted fd is attached to a device with a packet-info prefix (no IFF_NO_PI). Only
    /// detectable while a socket filter is attached (see [`crate::Device::from_fd`]).
    PacketInfo {
        /// The device name.
        name: String,
        /// The IFF_* flags from TUNGETIFF.
        flags: u32,
    },
    /// The offloads break one of the kernel's TUNSETOFFLOAD rules (checked before the ioctl).
    InvalidOffloads(OffloadRule),
    /// The header buffer handed to a read or write is not exactly the device's vnet header size.
    HeaderBufferSize {
        /// The device's vnet header size.
        expected: usize,
        /// The buffer's length.
        actual: usize,
    },
    /// writev wrote fewer bytes than header + packet.
    ShortWrite {
        /// Bytes written.
        written: usize,
        /// Bytes handed in.
        expected: usize,
    },
    /// readv returned fewer bytes than a vnet header.
    ShortRead {
        /// Bytes read.
        read: usize,
    },
    /// The packet did not fit into the buffer; the kernel dropped the rest of it (T17).
    Truncated {
        /// The packet buffer's length.
        capacity: usize,
    },
    /// vnet-core refused: a header it cannot encode or decode, a received header and packet
    /// `check` rejects, a `gso` or `gro` request, `meta`'s metadata or a `virtio` feature set.
    /// One variant, so that vnet-core's list of errors has one home ([`vnet_core::Error`]).
    Core(vnet_core::Error),
}

/// Each of vnet-core's errors converts, so `?` works on vnet-core's calls.
macro_rules! from_core {
    ($($t:ty),+) => {
        $(impl From<$t> for Error {
            fn from(err: $t) -> Self {
                Self::Core(err.into())
            }
        })+
    };
}

from_core!(
    vnet_core::Error,
    HdrError,
    wire::Error,
    CheckError,
    GsoError,
    GroError,
    MetaError,
    FeatureError
);

impl Error {
    /// Wraps an ioctl's errno with its name.
    pub(crate) fn ioctl(op: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Ioctl { op, source }
    }

    /// Wraps a system call's errno with its name; `EAGAIN` becomes [`Error::WouldBlock`].
    pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| {
            if source.kind() == io::ErrorKind::WouldBlock {
                Self::WouldBlock
            } else {
                Self::Io { op, source }
            }
        }
    }

    /// Whether this is [`Error::WouldBlock`].
    pub fn is_would_block(&self) -> bool {
        matches!(self, Self::WouldBlock)
    }

    /// The errno, when the kernel refused.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Self::Io { source, .. } | Self::Ioctl { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { op, source } => write!(f, "{op} failed: {source}"),
            Self::Ioctl { op, source } => write!(f, "ioctl {op} failed: {source}"),
            Self::WouldBlock => f.write_str("operation would block"),
            Self::InvalidName { name, reason } => {
                write!(f, "invalid interface name {name:?}: {reason}")
            }
            Self::UnsupportedHeaderSize(size) => {
                write!(f, "vnet header size {size} is not one of 10, 12, 20, 24")
            }
            Self::HeaderSizeMismatch { requested, actual } => write!(
                f,
                "TUNSETVNETHDRSZ {requested} read back as {actual} by TUNGETVNETHDRSZ"
            ),
            Self::NoVnetHeader { name, flags } => write!(
                f,
                "device {name} was opened without IFF_VNET_HDR (flags {flags:#x}); reopen it with IFF_VNET_HDR"
            ),
            Self::PacketInfo { name, flags } => write!(
                f,
                "device {name} was opened without IFF_NO_PI (flags {flags:#x}); reopen it with IFF_NO_PI"
            ),
            Self::InvalidOffloads(rule) => write!(f, "invalid offloads: {rule}"),
            Self::HeaderBufferSize { expected, actual } => write!(
                f,
                "header buffer is {actual} bytes, the device's vnet header is {expected}"
            ),
            Self::ShortWrite { written, expected } => {
                write!(f, "short write: {written} of {expected} bytes")
            }
            Self::ShortRead { read } => {
                write!(f, "short read: {read} bytes, less than a vnet header")
            }
            Self::Truncated { capacity } => write!(
                f,
                "packet longer than the {capacity}-byte buffer; the kernel dropped the rest"
            ),
            Self::Core(err) => write!(f, "vnet-core: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } | Self::Ioctl { source, .. } => Some(source),
            Self::Core(err) => Some(err),
            _ => None,
        }
    }
}

/// For event loops that speak `io::Error`: [`Error::WouldBlock`] maps to
/// `io::ErrorKind::WouldBlock`, errnos are kept, the rest becomes `InvalidInput`/`Other`.
impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::WouldBlock => return io::ErrorKind::WouldBlock.into(),
            Error::Io { source, .. } | Error::Ioctl { source, .. } => source.kind(),
            Error::InvalidName { .. }
            | Error::UnsupportedHeaderSize(_)
            | Error::InvalidOffloads(_)
            | Error::HeaderBufferSize { .. }
            | Error::Core(_) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
