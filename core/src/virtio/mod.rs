//! Virtio-net feature negotiation and what an agreed feature set implies (rules F1-F9).
//!
//! [`Features`] is a set of feature bits (128 of them: the UDP-tunnel bits are 65-68).
//! [`negotiate`] checks a device's offer and a driver's acceptance against the virtio spec's
//! feature-bit rules and returns the [`Agreed`] set, or a typed [`FeatureError`] naming the rule.
//! From an agreed set follow: the header [`Layout`] (F4), the [`TxOffloadSupport`] a guest's
//! headers can ask of a backend and the offer a backend's support allows (F5), the
//! [`CheckOptions`] and the header fields a device refuses or ignores (F6), the TUNSETOFFLOAD bits
//! a TAP backend asks for (F7), and the guest's receive header built from [`RxMetadata`] and read
//! back by a driver (F8, F9).
//!
//! Sources: the OASIS virtio spec (`device-types/net/description.tex`: "Feature bits", "Feature bit
//! requirements", "Device Operation"; `content.tex`: "Feature Bits"), Linux's uapi
//! `virtio_net.h` for the bit numbers and `virtio_net.c` (`virtnet_probe`) for the header size.

use core::fmt;
use core::num::NonZeroU16;

use crate::check::{CheckOptions, Mode};
use crate::hdr::{Flags, GsoType, Layout, VnetHdr};
use crate::kernel::Profile;
use crate::meta::{RxMetadata, TxOffloadSupport};
use crate::wire::Link;

mod features;

pub use features::{Features, Needs, RULES, Requirement, feature_name};

/// Which party broke a negotiation rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    /// The device's offer.
    Device,
    /// The driver's acceptance.
    Driver,
}

/// Why a negotiation failed, or a header or receive header breaks the agreed features. Each names
/// its rule (F3, F4, F6, F9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeatureError {
    /// F3: a set offered or accepted holds `feature` without what it requires (F2).
    Requires {
        /// Who broke it.
        party: Party,
        /// The feature.
        feature: Features,
        /// What it requires.
        requires: Features,
        /// All or any of `requires`.
        needs: Needs,
    },
    /// F3: the driver accepted features the device did not offer.
    NotOffered(Features),
    /// F4: UDP-tunnel GSO without HASH_REPORT puts the tunnel offsets at byte 12 (a 16-byte
    /// header, Linux's `virtnet_probe`), a layout vnet's header codec does not have.
    NoLayout,
    /// F6 (device side) / F9 (driver side): a header uses something the agreement does not allow.
    Header {
        /// The rule.
        rule: &'static str,
        /// The field.
        field: crate::error::Field,
        /// Its value.
        value: u32,
        /// The feature that would allow it (EMPTY: nothing does).
        missing: Features,
    },
}

impl FeatureError {
    /// The rule id this error enforces.
    pub const fn rule(&self) -> &'static str {
        match self {
            FeatureError::Requires { .. } | FeatureError::NotOffered(_) => "F3",
            FeatureError::NoLayout => "F4",
            FeatureError::Header { rule, .. } => rule,
        }
    }
}

impl fmt::Display for FeatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FeatureError::Requires {
                party,
                feature,
                requires,
                needs,
            } => {
                let who = match party {
                    Party::Device => "the device offers",
                    Party::Driver => "the driver accepts",
                };
                let how = match needs {
                    Needs::All => "",
                    Needs::Any => "one of ",
                };
                write!(f, "F3: {who} {feature:?} without {how}{requires:?}")
            }
            FeatureError::NotOffered(extra) => {
                write!(f, "F3: the driver accepts {extra:?}, which the device did not offer")
            }
            FeatureError::NoLayout => f.write_str(
                "F4: UDP-tunnel GSO without HASH_REPORT needs a 16-byte header, which vnet does not have",
            ),
            FeatureError::Header {
                rule,
                field,
                value,
                missing,
            } => {
                if missing == Features::EMPTY {
                    write!(f, "{rule}: {field} {value:#x} is not allowed")
                } else {
                    write!(f, "{rule}: {field} {value:#x} needs {missing:?}, not negotiated")
                }
            }
        }
    }
}

impl core::error::Error for FeatureError {}

/// A feature set that passed [`negotiate`]: it keeps every rule of F2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Agreed(Features);

/// F3: negotiation. The device's offer must keep F2 (spec 2.2.2: "The device MUST NOT offer a
/// feature which requires another feature which was not offered"); the driver's acceptance must be
/// part of the offer and keep F2 (spec 2.2.1: "MUST NOT accept a feature which the device did not
/// offer, and MUST NOT accept a feature which requires another feature which was not accepted").
/// The agreed set is what the driver accepted. Bits vnet does not name are carried, unchecked.
pub fn negotiate(
    device_offers: Features,
    driver_accepts: Features,
) -> Result<Agreed, FeatureError> {
    let requires = |party, r: &Requirement| FeatureError::Requires {
        party,
        feature: r.feature,
        requires: r.requires,
        needs: r.needs,
    };
    if let Some(r) = device_offers.broken_rule() {
        return Err(requires(Party::Device, r));
    }
    let extra = driver_accepts.without(device_offers);
    if extra != Features::EMPTY {
        return Err(FeatureError::NotOffered(extra));
    }
    if let Some(r) = driver_accepts.broken_rule() {
        return Err(requires(Party::Driver, r));
    }
    Ok(Agreed(driver_accepts))
}

impl Agreed {
    /// The agreed features.
    pub const fn features(self) -> Features {
        self.0
    }

    /// Whether every feature of `f` was agreed.
    pub const fn has(self, f: Features) -> bool {
        self.0.contains(f)
    }

    /// Whether UDP-tunnel GSO was agreed in either direction (the tunnel offsets are in the
    /// header).
    pub const fn tunnel(self) -> bool {
        self.0.intersects(Features(
            Features::GUEST_UDP_TUNNEL_GSO.0 | Features::HOST_UDP_TUNNEL_GSO.0,
        ))
    }

    /// F4: the header layout. UDP-tunnel GSO (either direction) with HASH_REPORT: 24 bytes;
    /// HASH_REPORT: 20; VERSION_1 or MRG_RXBUF: 12; else 10. UDP-tunnel GSO without HASH_REPORT
    /// is [`FeatureError::NoLayout`].
    pub const fn layout(self) -> Result<Layout, FeatureError> {
        let hash = self.has(Features::HASH_REPORT);
        if self.tunnel() {
            return if hash {
                Ok(Layout::V1HashTunnel)
            } else {
                Err(FeatureError::NoLayout)
            };
        }
        if hash {
            Ok(Layout::V1Hash)
        } else if self
            .0
            .intersects(Features(Features::VERSION_1.0 | Features::MRG_RXBUF.0))
        {
            Ok(Layout::V1)
        } else {
            Ok(Layout::Legacy)
        }
    }

    /// F5: what the guest's transmit headers can ask of a backend under this agreement, in
    /// metadata terms: TCP and UDP checksums with CSUM, TSO with HOST_TSO4 or HOST_TSO6, USO with
    /// HOST_USO, and the IPv4 header checksum with HOST_TSO4 or HOST_USO (M6 asks for it on
    /// IPv4 segments). For an offer from [`Features::device_offer`] it never exceeds the
    /// endpoint's support (law L10c).
    pub const fn tx_offload_support(self) -> TxOffloadSupport {
        let csum = self.has(Features::CSUM);
        TxOffloadSupport {
            ipv4_header: self
                .0
                .intersects(Features(Features::HOST_TSO4.0 | Features::HOST_USO.0)),
            tcp: csum,
            udp: csum,
            tso: self
                .0
                .intersects(Features(Features::HOST_TSO4.0 | Features::HOST_TSO6.0)),
            uso: self.has(Features::HOST_USO),
        }
    }

    /// F6: the options to judge the guest's transmit headers with: the agreed layout, the virtio
    /// spec's driver MUSTs ([`Mode::Strict`]), the tunnel flags from HOST_UDP_TUNNEL_GSO(_CSUM).
    /// Run [`Agreed::admit`] first: `check` knows nothing of the other features.
    pub const fn check_options(
        self,
        link: Link,
        kernel: Profile,
    ) -> Result<CheckOptions, FeatureError> {
        let layout = match self.layout() {
            Ok(layout) => layout,
            Err(e) => return Err(e),
        };
        Ok(CheckOptions {
            link,
            layout,
            mode: Mode::Strict,
            kernel,
            tunnel: self.has(Features::HOST_UDP_TUNNEL_GSO),
            tunnel_csum: self.has(Features::HOST_UDP_TUNNEL_GSO_CSUM),
        })
    }

    /// F6: a guest's transmit header as a device of this agreement takes it ("Packet
    /// Transmission", driver and device requirements). Refused, as a typed error: flags other than
    /// zero without CSUM ("the driver MUST set flags to zero"); a GSO type whose HOST_ feature was
    /// not agreed (TCPV4: HOST_TSO4, TCPV6: HOST_TSO6, UDP: HOST_UFO, UDP_L4: HOST_USO; "MUST
    /// NOT set gso_type to ..."); a tunnel bit without HOST_UDP_TUNNEL_GSO; UDP_TUNNEL_CSUM
    /// without HOST_UDP_TUNNEL_GSO_CSUM. Ignored, so cleared in the header returned: flag bits the
    /// spec does not define ("The device MUST ignore flag bits that it does not recognize"),
    /// `csum_start` and `csum_offset` without NEEDS_CSUM ("MUST NOT use"), the tunnel offsets
    /// without a tunnel bit ("MUST NOT use"), the ECN bit without HOST_ECN (it "indicates" ECN
    /// only if HOST_ECN was negotiated), and the receive-only fields `num_buffers` and the hash
    /// (unused on transmit). What is left is for `check` under [`Agreed::check_options`].
    pub fn admit(self, hdr: &VnetHdr) -> Result<VnetHdr, FeatureError> {
        let refuse = |field, value: u8, missing| {
            Err(FeatureError::Header {
                rule: "F6",
                field,
                value: value.into(),
                missing,
            })
        };
        let mut h = *hdr;
        let defined = Flags(
            Flags::NEEDS_CSUM.0
                | Flags::DATA_VALID.0
                | Flags::RSC_INFO.0
                | Flags::UDP_TUNNEL_CSUM.0,
        );
        h.flags = Flags(h.flags.0 & defined.0);
        if h.flags != Flags::EMPTY && !self.has(Features::CSUM) {
            return refuse(crate::error::Field::Flags, h.flags.0, Features::CSUM);
        }
        let needed = match h.gso_type.base() {
            GsoType::NONE => Features::EMPTY,
            GsoType::TCPV4 => Features::HOST_TSO4,
            GsoType::TCPV6 => Features::HOST_TSO6,
            GsoType::UDP => Features::HOST_UFO,
            GsoType::UDP_L4 => Features::HOST_USO,
            // Not a type of the spec: `check` refuses it (V1).
            _ => Features::EMPTY,
        };
        if !self.has(needed) {
            return refuse(crate::error::Field::GsoType, h.gso_type.0, needed);
        }
        if h.gso_type.tunnel() != GsoType::NONE && !self.has(Features::HOST_UDP_TUNNEL_GSO) {
            return refuse(
                crate::error::Field::GsoType,
                h.gso_type.0,
                Features::HOST_UDP_TUNNEL_GSO,
            );
        }
        if h.flags.contains(Flags::UDP_TUNNEL_CSUM) && !self.has(Features::HOST_UDP_TUNNEL_GSO_CSUM)
        {
            return refuse(
                crate::error::Field::Flags,
                h.flags.0,
                Features::HOST_UDP_TUNNEL_GSO_CSUM,
            );
        }
        if !h.flags.contains(Flags::NEEDS_CSUM) {
            h.csum_start = 0;
            h.csum_offset = 0;
        }
        if h.gso_type.tunnel() == GsoType::NONE {
            h.outer_th_offset = 0;
            h.inner_nh_offset = 0;
        }
        if h.gso_type.has_ecn() && !self.has(Features::HOST_ECN) {
            h.gso_type = GsoType(h.gso_type.0 & !GsoType::ECN.0);
        }
        h.num_buffers = 0;
        h.hash_value = 0;
        h.hash_report = 0;
        h.hash_padding = 0;
        Ok(h)
    }

    /// F7: the TUNSETOFFLOAD bits a TAP backend of this agreement asks for. TUNSETOFFLOAD says
    /// what the TAP's reader (here: the guest's receive path) accepts, so the GUEST_ features
    /// decide: GUEST_CSUM -> CSUM 0x01, GUEST_TSO4 -> TSO4 0x02, GUEST_TSO6 -> TSO6 0x04,
    /// GUEST_ECN -> TSO_ECN 0x08, GUEST_UFO -> UFO 0x10, GUEST_USO4 and GUEST_USO6 -> USO4|USO6
    /// 0x60 (TUN takes them only together, T10), GUEST_UDP_TUNNEL_GSO(_CSUM) -> 0x80 (0x100).
    /// The result keeps T10 whenever the agreement keeps F2 (law L10d).
    pub const fn tap_offloads(self) -> u32 {
        let f = self.0;
        let mut bits = 0;
        if !f.contains(Features::GUEST_CSUM) {
            return 0;
        }
        bits |= 0x01;
        if f.contains(Features::GUEST_TSO4) {
            bits |= 0x02;
        }
        if f.contains(Features::GUEST_TSO6) {
            bits |= 0x04;
        }
        if f.contains(Features::GUEST_ECN) {
            bits |= 0x08;
        }
        if f.contains(Features::GUEST_UFO) {
            bits |= 0x10;
        }
        let uso = f.contains(Features(Features::GUEST_USO4.0 | Features::GUEST_USO6.0));
        if uso {
            bits |= 0x60;
        }
        // F2 gives the tunnel bit TSO4, TSO6 and USO4|USO6 with it, as T10 wants.
        if f.contains(Features::GUEST_UDP_TUNNEL_GSO) {
            bits |= 0x80;
            if f.contains(Features::GUEST_UDP_TUNNEL_GSO_CSUM) {
                bits |= 0x100;
            }
        }
        bits
    }

    /// F8: the receive header a device of this agreement gives the guest for a packet described
    /// by `meta` and spread over `num_buffers` buffers ("Processing of Incoming Packets", device
    /// requirements): DATA_VALID when GUEST_CSUM was agreed and both checksums are valid
    /// ([`RxChecksumState::is_valid`](crate::meta::RxChecksumState::is_valid)), else flags 0 ("If GUEST_CSUM is not negotiated, the device
    /// MUST set flags to zero"); GSO type NONE; `num_buffers` as given with MRG_RXBUF, 1 without
    /// ("MUST set num_buffers to 1"), and 0 in the 10-byte layout, which has no such field.
    pub const fn rx_header(self, meta: &RxMetadata, num_buffers: NonZeroU16) -> VnetHdr {
        let valid = self.has(Features::GUEST_CSUM)
            && meta.ip_checksum.is_valid()
            && meta.l4_checksum.is_valid();
        let has_field = !matches!(self.layout(), Ok(Layout::Legacy));
        let num_buffers = if !has_field {
            0
        } else if self.has(Features::MRG_RXBUF) {
            num_buffers.get()
        } else {
            1
        };
        VnetHdr {
            flags: if valid {
                Flags::DATA_VALID
            } else {
                Flags::EMPTY
            },
            gso_type: GsoType::NONE,
            hdr_len: 0,
            gso_size: 0,
            csum_start: 0,
            csum_offset: 0,
            num_buffers,
            hash_value: 0,
            hash_report: 0,
            hash_padding: 0,
            outer_th_offset: 0,
            inner_nh_offset: 0,
        }
    }

    /// F9: what a driver of this agreement learns from a receive header: DATA_VALID -> both
    /// checksums [`Good`](crate::meta::RxChecksumState::Good), else both Unknown; the protocol from the GSO
    /// type as M8 says; and `num_buffers`. Refused: flags other than zero without GUEST_CSUM, a
    /// GSO type whose GUEST_ feature was not agreed (TCPV4: GUEST_TSO4, TCPV6: GUEST_TSO6, UDP:
    /// GUEST_UFO, UDP_L4: GUEST_USO4 or GUEST_USO6), a tunnel bit without GUEST_UDP_TUNNEL_GSO,
    /// UDP_TUNNEL_CSUM without GUEST_UDP_TUNNEL_GSO_CSUM, and `num_buffers` other than 1 without
    /// MRG_RXBUF in a layout that has the field.
    pub fn read_rx_header(self, hdr: &VnetHdr) -> Result<(RxMetadata, u16), FeatureError> {
        let refuse = |field, value: u32, missing| {
            Err(FeatureError::Header {
                rule: "F9",
                field,
                value,
                missing,
            })
        };
        use crate::error::Field;
        if hdr.flags != Flags::EMPTY && !self.has(Features::GUEST_CSUM) {
            return refuse(Field::Flags, hdr.flags.0.into(), Features::GUEST_CSUM);
        }
        let f = self.0;
        let allowed = match hdr.gso_type.base() {
            GsoType::NONE => true,
            GsoType::TCPV4 => f.contains(Features::GUEST_TSO4),
            GsoType::TCPV6 => f.contains(Features::GUEST_TSO6),
            GsoType::UDP => f.contains(Features::GUEST_UFO),
            GsoType::UDP_L4 => {
                f.intersects(Features(Features::GUEST_USO4.0 | Features::GUEST_USO6.0))
            }
            _ => false,
        };
        if !allowed {
            return refuse(Field::GsoType, hdr.gso_type.0.into(), Features::EMPTY);
        }
        if hdr.gso_type.tunnel() != GsoType::NONE && !f.contains(Features::GUEST_UDP_TUNNEL_GSO) {
            return refuse(
                Field::GsoType,
                hdr.gso_type.0.into(),
                Features::GUEST_UDP_TUNNEL_GSO,
            );
        }
        if hdr.flags.contains(Flags::UDP_TUNNEL_CSUM)
            && !f.contains(Features::GUEST_UDP_TUNNEL_GSO_CSUM)
        {
            return refuse(
                Field::Flags,
                hdr.flags.0.into(),
                Features::GUEST_UDP_TUNNEL_GSO_CSUM,
            );
        }
        let has_field = !matches!(self.layout(), Ok(Layout::Legacy));
        if has_field && !f.contains(Features::MRG_RXBUF) && hdr.num_buffers != 1 {
            return refuse(
                Field::NumBuffers,
                hdr.num_buffers.into(),
                Features::MRG_RXBUF,
            );
        }
        // What the header says is M8's, as for any received header.
        Ok((crate::meta::rx_metadata(hdr), hdr.num_buffers))
    }
}

#[cfg(test)]
mod tests;
