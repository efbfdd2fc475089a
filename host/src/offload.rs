//! TUNSETOFFLOAD bits and the kernel's rule for accepting them (T3, T9, T10 in
//! `spec/RULES.md`).
//!
//! The offloads say what the kernel may hand to a *reader*: partially checksummed packets (CSUM)
//! and TCP/UDP super-packets (TSO4/TSO6/USO4/USO6), since Linux 6.17 also UDP-tunnel super-packets
//! (UDP_TUNNEL_GSO, UDP_TUNNEL_GSO_CSUM). What a writer may send is not restricted (T11): a TUN
//! with a 24-byte vnet header accepts UDP-tunnel GSO writes whatever its offloads (K20; the
//! kernel takes the header size as the negotiation, `tun_vnet_hdr_guest_features`).

use std::fmt;

/// A set of TUN_F_* offload bits, as passed to TUNSETOFFLOAD.
///
/// Every `u32` is representable (see [`Offloads::from_bits_retain`]) so that a value read from a
/// config or a peer can be carried and then rejected by [`Offloads::validate`] with a reason.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Offloads(u32);

impl Offloads {
    /// No offload: the kernel checksums and segments everything before the reader sees it.
    pub const NONE: Self = Self(0);
    /// TUN_F_CSUM: packets may arrive with a partial checksum (`NEEDS_CSUM`).
    pub const CSUM: Self = Self(libc::TUN_F_CSUM);
    /// TUN_F_TSO4: TCP/IPv4 super-packets.
    pub const TSO4: Self = Self(libc::TUN_F_TSO4);
    /// TUN_F_TSO6: TCP/IPv6 super-packets.
    pub const TSO6: Self = Self(libc::TUN_F_TSO6);
    /// TUN_F_TSO_ECN: TSO super-packets with CWR set (the ECN gso bit).
    pub const TSO_ECN: Self = Self(libc::TUN_F_TSO_ECN);
    /// TUN_F_UFO: accepted by the kernel but never produced any more (T9).
    pub const UFO: Self = Self(libc::TUN_F_UFO);
    /// TUN_F_USO4: UDP/IPv4 segmentation offload (the kernel needs USO6 too).
    pub const USO4: Self = Self(libc::TUN_F_USO4);
    /// TUN_F_USO6: UDP/IPv6 segmentation offload (the kernel needs USO4 too).
    pub const USO6: Self = Self(libc::TUN_F_USO6);
    /// TUN_F_UDP_TUNNEL_GSO (0x80, Linux 6.17): TSO/USO super-packets inside a UDP tunnel. The
    /// kernel accepts it only with a plain segmentation offload (TSO4, TSO6 or USO); the reader
    /// needs a 24-byte vnet header to receive the tunnel offsets. Older kernels refuse the bit.
    pub const UDP_TUNNEL_GSO: Self = Self(0x80);
    /// TUN_F_UDP_TUNNEL_GSO_CSUM (0x100, Linux 6.17): tunnel super-packets whose outer UDP
    /// checksum is left to the reader too (UDP_TUNNEL_CSUM). Only with UDP_TUNNEL_GSO.
    pub const UDP_TUNNEL_GSO_CSUM: Self = Self(0x100);

    /// Both TCP segmentation offloads.
    pub const TSO: Self = Self(Self::TSO4.0 | Self::TSO6.0);
    /// Both UDP segmentation offloads (they are only accepted together).
    pub const USO: Self = Self(Self::USO4.0 | Self::USO6.0);
    /// Both UDP-tunnel bits.
    pub const UDP_TUNNEL: Self = Self(Self::UDP_TUNNEL_GSO.0 | Self::UDP_TUNNEL_GSO_CSUM.0);
    /// Every bit this type knows (a valid set: TSO carries the tunnel bits).
    pub const ALL: Self = Self(
        Self::CSUM.0
            | Self::TSO.0
            | Self::TSO_ECN.0
            | Self::UFO.0
            | Self::USO.0
            | Self::UDP_TUNNEL.0,
    );
    /// Everything a reader of plain super-packets wants: checksum, TSO with ECN, USO. Not UFO
    /// (the kernel never produces it) and not the UDP-tunnel bits: tunnel super-packets carry
    /// offsets only a 24-byte header holds, and kernels before 6.17 refuse the bits; add
    /// [`Offloads::UDP_TUNNEL`] explicitly for a reader with that layout.
    pub const FULL: Self = Self(Self::CSUM.0 | Self::TSO.0 | Self::TSO_ECN.0 | Self::USO.0);

    const NAMES: [(Self, &'static str); 9] = [
        (Self::CSUM, "CSUM"),
        (Self::TSO4, "TSO4"),
        (Self::TSO6, "TSO6"),
        (Self::TSO_ECN, "TSO_ECN"),
        (Self::UFO, "UFO"),
        (Self::USO4, "USO4"),
        (Self::USO6, "USO6"),
        (Self::UDP_TUNNEL_GSO, "UDP_TUNNEL_GSO"),
        (Self::UDP_TUNNEL_GSO_CSUM, "UDP_TUNNEL_GSO_CSUM"),
    ];

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Any bits, including ones this type does not know (rejected by [`Offloads::validate`]).
    pub const fn from_bits_retain(bits: u32) -> Self {
        Self(bits)
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `self` without the bits of `other`.
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Applies the kernel's acceptance rule (T9/T10) before the ioctl, so that a refusal says
    /// which rule was broken instead of a bare EINVAL.
    pub fn validate(self) -> Result<(), OffloadRule> {
        let unknown = self.without(Self::ALL);
        if !unknown.is_empty() {
            return Err(OffloadRule::Unknown(unknown));
        }
        let needs_csum = self.without(Self::CSUM);
        if !needs_csum.is_empty() && !self.contains(Self::CSUM) {
            return Err(OffloadRule::NeedsCsum(needs_csum));
        }
        if self.contains(Self::TSO_ECN) && !self.intersects(Self::TSO) {
            return Err(OffloadRule::EcnNeedsTso);
        }
        if self.intersects(Self::USO) && !self.contains(Self::USO) {
            return Err(OffloadRule::UsoPair);
        }
        // The kernel's PLAIN_GSO: TSO, TSO6 or USO (not UFO, not TSO_ECN alone).
        if self.contains(Self::UDP_TUNNEL_GSO) && !self.intersects(Self::TSO | Self::USO) {
            return Err(OffloadRule::TunnelNeedsSegmentation);
        }
        if self.contains(Self::UDP_TUNNEL_GSO_CSUM) && !self.contains(Self::UDP_TUNNEL_GSO) {
            return Err(OffloadRule::TunnelCsumNeedsTunnel);
        }
        Ok(())
    }
}

vnet_core::flag_ops!(Offloads);

/// `CSUM | TSO4 | 0x200`: known names, then unknown bits in hex.
impl fmt::Debug for Offloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("NONE");
        }
        let mut sep = "";
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                write!(f, "{sep}{name}")?;
                sep = " | ";
            }
        }
        let unknown = self.without(Self::ALL);
        if !unknown.is_empty() {
            write!(f, "{sep}{:#x}", unknown.0)?;
        }
        Ok(())
    }
}

impl fmt::Display for Offloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

// The kernel ABI (T3), checked against libc's values at compile time.
const _: () = {
    assert!(Offloads::CSUM.0 == 0x01);
    assert!(Offloads::TSO4.0 == 0x02);
    assert!(Offloads::TSO6.0 == 0x04);
    assert!(Offloads::TSO_ECN.0 == 0x08);
    assert!(Offloads::UFO.0 == 0x10);
    assert!(Offloads::USO4.0 == 0x20);
    assert!(Offloads::USO6.0 == 0x40);
    // Not in libc yet: the kernel's include/uapi/linux/if_tun.h.
    assert!(Offloads::UDP_TUNNEL_GSO.0 == 0x080);
    assert!(Offloads::UDP_TUNNEL_GSO_CSUM.0 == 0x100);
};

/// Which of the kernel's TUNSETOFFLOAD rules (T10) a set of offloads breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffloadRule {
    /// Bits the kernel does not know (it refuses the whole set).
    Unknown(Offloads),
    /// TSO4/TSO6/TSO_ECN/UFO/USO need CSUM: a super-packet always carries a partial checksum.
    NeedsCsum(Offloads),
    /// TSO_ECN needs TSO4 or TSO6.
    EcnNeedsTso,
    /// USO4 and USO6 are only accepted together.
    UsoPair,
    /// UDP_TUNNEL_GSO needs TSO4, TSO6 or USO (UFO and TSO_ECN do not count).
    TunnelNeedsSegmentation,
    /// UDP_TUNNEL_GSO_CSUM needs UDP_TUNNEL_GSO (alone it is an unknown bit to the kernel).
    TunnelCsumNeedsTunnel,
}

impl fmt::Display for OffloadRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(bits) => write!(f, "unknown offload bits {bits} (T10)"),
            Self::NeedsCsum(bits) => write!(f, "{bits} need CSUM (T10)"),
            Self::EcnNeedsTso => f.write_str("TSO_ECN needs TSO4 or TSO6 (T10)"),
            Self::UsoPair => f.write_str("USO4 and USO6 must be set together (T10)"),
            Self::TunnelNeedsSegmentation => {
                f.write_str("UDP_TUNNEL_GSO needs TSO4, TSO6 or USO (T10)")
            }
            Self::TunnelCsumNeedsTunnel => {
                f.write_str("UDP_TUNNEL_GSO_CSUM needs UDP_TUNNEL_GSO (T10)")
            }
        }
    }
}

/// The sets [`crate::Device::negotiate_offloads`] tries, best first, in quinn-udp's spirit:
/// `wanted`, then without the UDP-tunnel bits (the newest, 6.17), then without USO (6.2), then
/// without any segmentation, then nothing. Each step keeps the set valid (the tunnel bits go
/// before the segmentation they need); repeats are skipped.
pub(crate) fn fallbacks(wanted: Offloads) -> Vec<Offloads> {
    let plain = wanted.without(Offloads::UDP_TUNNEL);
    let mut steps = vec![
        wanted,
        plain,
        plain.without(Offloads::USO),
        wanted & Offloads::CSUM,
        Offloads::NONE,
    ];
    // Each step is a subset of the one before, so repeats are adjacent.
    steps.dedup();
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_accepts_kernel_sets() {
        for ok in [
            Offloads::NONE,
            Offloads::CSUM,
            Offloads::CSUM | Offloads::TSO4,
            Offloads::CSUM | Offloads::TSO6 | Offloads::TSO_ECN,
            Offloads::CSUM | Offloads::UFO,
            Offloads::FULL,
            Offloads::ALL,
            Offloads::CSUM | Offloads::TSO4 | Offloads::UDP_TUNNEL_GSO,
            Offloads::CSUM | Offloads::TSO6 | Offloads::UDP_TUNNEL,
            Offloads::CSUM | Offloads::USO | Offloads::UDP_TUNNEL,
            Offloads::FULL | Offloads::UDP_TUNNEL,
        ] {
            assert_eq!(ok.validate(), Ok(()), "{ok}");
        }
    }

    /// Measured on 6.18.44 (TUNSETOFFLOAD on a TUN, 12- or 24-byte header alike): 0x83, 0x85,
    /// 0x87, 0xe1, 0x183, 0x1e1, 0x1ff accepted; 0x80, 0x81, 0x89, 0x91, 0x101, 0x103, 0x180,
    /// 0x181 EINVAL. `validate` refuses exactly the refused ones.
    #[test]
    fn validate_tunnel_bits_as_measured() {
        for bits in [0x83, 0x85, 0x87, 0xe1, 0x183, 0x1e1, 0x1ff] {
            let set = Offloads::from_bits_retain(bits);
            assert_eq!(set.validate(), Ok(()), "{set}");
        }
        for (bits, rule) in [
            (0x80, OffloadRule::NeedsCsum(Offloads::UDP_TUNNEL_GSO)),
            (0x81, OffloadRule::TunnelNeedsSegmentation),
            (0x89, OffloadRule::EcnNeedsTso),
            (0x91, OffloadRule::TunnelNeedsSegmentation),
            (0x101, OffloadRule::TunnelCsumNeedsTunnel),
            (0x103, OffloadRule::TunnelCsumNeedsTunnel),
            (0x180, OffloadRule::NeedsCsum(Offloads::UDP_TUNNEL)),
            (0x181, OffloadRule::TunnelNeedsSegmentation),
        ] {
            let set = Offloads::from_bits_retain(bits);
            assert_eq!(set.validate(), Err(rule), "{set}");
        }
    }

    #[test]
    fn validate_names_the_rule() {
        assert_eq!(
            (Offloads::TSO4 | Offloads::USO).validate(),
            Err(OffloadRule::NeedsCsum(Offloads::TSO4 | Offloads::USO))
        );
        assert_eq!(
            (Offloads::CSUM | Offloads::TSO_ECN).validate(),
            Err(OffloadRule::EcnNeedsTso)
        );
        assert_eq!(
            (Offloads::CSUM | Offloads::USO4).validate(),
            Err(OffloadRule::UsoPair)
        );
        let unknown = Offloads::from_bits_retain(0x200);
        assert_eq!(
            (Offloads::CSUM | unknown).validate(),
            Err(OffloadRule::Unknown(unknown))
        );
    }

    #[test]
    fn fallbacks_are_valid_and_distinct() {
        let steps = fallbacks(Offloads::FULL);
        assert_eq!(
            steps,
            [
                Offloads::FULL,
                Offloads::CSUM | Offloads::TSO | Offloads::TSO_ECN,
                Offloads::CSUM,
                Offloads::NONE
            ]
        );
        assert!(steps.iter().all(|s| s.validate().is_ok()));
        assert_eq!(fallbacks(Offloads::NONE), [Offloads::NONE]);
        // The tunnel bits go first: a kernel before 6.17 refuses them but keeps USO and TSO.
        let tunnel = Offloads::CSUM | Offloads::USO | Offloads::UDP_TUNNEL;
        let steps = fallbacks(tunnel);
        assert_eq!(
            steps,
            [
                tunnel,
                Offloads::CSUM | Offloads::USO,
                Offloads::CSUM,
                Offloads::NONE
            ]
        );
        assert!(steps.iter().all(|s| s.validate().is_ok()));
    }

    #[test]
    fn debug_names() {
        assert_eq!(format!("{:?}", Offloads::NONE), "NONE");
        assert_eq!(
            format!("{:?}", Offloads::CSUM | Offloads::from_bits_retain(0x400)),
            "CSUM | 0x400"
        );
        assert_eq!(
            format!(
                "{:?}",
                Offloads::CSUM | Offloads::TSO4 | Offloads::UDP_TUNNEL
            ),
            "CSUM | TSO4 | UDP_TUNNEL_GSO | UDP_TUNNEL_GSO_CSUM"
        );
    }
}
