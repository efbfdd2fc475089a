//! A VMM network backend's data path over one TUN/TAP queue: offload metadata in, one `writev`
//! out; one `readv` in, receive metadata out (ARCHITECTURE.md, 'Metadata translation').
//!
//! [`Endpoint`] is what a VMM (OpenVMM, Firecracker, cloud-hypervisor, crosvm style) calls per
//! packet. It owns a [`Device`] whose offloads it put into a known state itself:
//! [`Endpoint::new`] and [`Endpoint::from_fd`] first clear whatever TUNSETOFFLOAD bits the fd had
//! (an adopted fd may come from a process that set its own), then ask for the bits wanted, e.g.
//! [`Agreed::tap_offloads`] of a virtio negotiation (F7).
//!
//! - [`Endpoint::send`]: `meta::to_header` (M1-M5), the software fix-ups the header cannot carry
//!   (M9: the IPv4 total length and header checksum, when asked and on every IPv4 segmentation
//!   request; M10: the IPv6 payload length on segmentation requests), then one `writev`.
//! - [`Endpoint::recv`]: one `readv`, the header translated with `meta::rx_metadata` (M8), the
//!   frame's offset and length filled in; [`Received::forward`] turns what was read into transmit
//!   metadata for a second endpoint (a bridge; M6).

use std::os::fd::OwnedFd;

use vnet_core::hdr::VnetHdr;
use vnet_core::meta::{
    self, RxMetadata, TxFlags, TxMetadata, TxOffloadSupport, TxRule, fixup_ipv4_header_checksum,
    fixup_ipv6_payload_length,
};
use vnet_core::virtio::Agreed;
use vnet_core::wire::Link;

use crate::device::{Device, DeviceKind};
use crate::error::{Error, Result};
use crate::offload::Offloads;

/// One TUN/TAP queue as a VMM backend sees it.
#[derive(Debug)]
pub struct Endpoint {
    device: Device,
    offloads: Offloads,
    support: TxOffloadSupport,
}

/// What [`Endpoint::recv`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// What the receiver learns (M8), with `offset` 0 and `len` the frame's length.
    pub meta: RxMetadata,
    /// The header the kernel wrote, in case the caller forwards the frame (GSO, partial checksum).
    pub hdr: VnetHdr,
    /// Where the frame starts: IP (TUN) or Ethernet (TAP).
    pub link: Link,
}

impl Received {
    /// The frame's length.
    pub fn len(&self) -> usize {
        self.meta.len
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.meta.len == 0
    }

    /// The transmit metadata that sends `frame` (the bytes read) on through another endpoint
    /// with the same offloads: a partial checksum stays partial, a GSO super-packet stays one
    /// (M6). Errors are M7's.
    pub fn forward(&self, frame: &[u8]) -> Result<TxMetadata> {
        meta::from_header(&self.hdr, frame, self.link).map_err(Error::from)
    }
}

impl Endpoint {
    /// Takes over `device`: clears its offloads, probes whether the kernel knows USO (K16: a TUN
    /// write of UDP_L4 needs what TUNSETOFFLOAD's USO bits came with), then sets the best
    /// offloads the kernel accepts, at most `wanted` ([`Device::negotiate_offloads`]).
    pub fn new(device: Device, wanted: Offloads) -> Result<Self> {
        device.set_offloads(Offloads::NONE)?;
        let uso = device
            .set_offloads_unchecked(Offloads::CSUM | Offloads::USO)
            .is_ok();
        device.set_offloads(Offloads::NONE)?;
        let offloads = device.negotiate_offloads(wanted)?;
        // What a TUN/TAP write does whatever TUNSETOFFLOAD says (T11): the kernel completes a
        // partial checksum and segments TSO (and, where it knows it, USO); the IPv4 header
        // checksum is computed here in software (M9).
        let support = TxOffloadSupport {
            uso,
            ..TxOffloadSupport::ALL
        };
        Ok(Self {
            device,
            offloads,
            support,
        })
    }

    /// Adopts an fd another process opened (with IFF_VNET_HDR and IFF_NO_PI) and resets its
    /// offloads as [`Endpoint::new`] does: what the previous owner set does not survive.
    pub fn from_fd(fd: OwnedFd, wanted: Offloads) -> Result<Self> {
        Self::new(Device::from_fd(fd)?, wanted)
    }

    /// [`Endpoint::new`] with the TUNSETOFFLOAD bits of a virtio agreement (F7), after checking
    /// that the device's header layout is the agreement's (F4).
    pub fn for_agreement(device: Device, agreed: Agreed) -> Result<Self> {
        let layout = agreed.layout()?;
        if layout != device.layout() {
            return Err(Error::HeaderSizeMismatch {
                requested: layout.size(),
                actual: device.vnet_hdr_len(),
            });
        }
        Self::new(device, Offloads::from_bits_retain(agreed.tap_offloads()))
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The device back, offloads as the endpoint left them.
    pub fn into_device(self) -> Device {
        self.device
    }

    /// The TUNSETOFFLOAD bits in force: what the kernel may hand [`Endpoint::recv`].
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// What [`Endpoint::send`] can do for a sender: what a backend advertises to its guest (and
    /// what `Features::device_offer` turns into a virtio offer, F5).
    pub fn tx_offload_support(&self) -> TxOffloadSupport {
        self.support
    }

    /// Where frames start: IP (TUN) or Ethernet (TAP).
    pub fn link(&self) -> Link {
        match self.device.kind() {
            DeviceKind::Tun => Link::Tun,
            DeviceKind::Tap => Link::Tap,
        }
    }

    /// Sends one frame with the offloads `meta` asks for: translates it (M1-M5), applies the
    /// software fix-ups in place (M9 when `OFFLOAD_IP_HEADER_CHECKSUM` is set on IPv4 or an IPv4
    /// packet is to be segmented; M10 when an IPv6 packet is to be segmented), then writes header
    /// and frame with one `writev`. Returns the frame's length.
    pub fn send(&self, meta: &TxMetadata, frame: &mut [u8]) -> Result<usize> {
        let hdr = meta::to_header(meta)?;
        let flags = meta.flags;
        let l2 = usize::from(meta.l2_len);
        let segmenting = matches!(TxRule::of(meta), TxRule::Tso | TxRule::Uso);
        if flags.contains(TxFlags::IS_IPV4)
            && (segmenting || flags.contains(TxFlags::OFFLOAD_IP_HEADER_CHECKSUM))
        {
            fixup_ipv4_header_checksum(frame, l2)?;
        } else if flags.contains(TxFlags::IS_IPV6) && segmenting {
            fixup_ipv6_payload_length(frame, l2)?;
        }
        self.device.send(&hdr, frame)
    }

    /// Receives one frame into `buf` with one `readv`: its metadata (M8; `offset` 0, `len` the
    /// frame's length) and the header, for [`Received::forward`].
    pub fn recv(&self, buf: &mut [u8]) -> Result<Received> {
        let (hdr, len) = self.device.recv(buf)?;
        Ok(Received {
            meta: RxMetadata {
                offset: 0,
                len,
                ..meta::rx_metadata(&hdr)
            },
            hdr,
            link: self.link(),
        })
    }
}
