//! The feature bits as a typed set (F1) and the spec's feature-bit requirements (F2).

use core::fmt;

use crate::meta::TxOffloadSupport;

/// A set of virtio feature bits: bit `n` of the `u128` is feature `n` (F1). Every bit is carried,
/// known or not; only the bits with a constant here take part in the rules.
#[repr(transparent)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Features(pub u128);

/// Feature `n`'s bit.
const fn bit(n: u32) -> u128 {
    1 << n
}

flag_set!(Features, names: NAMES {
    /// 0: the device handles packets with a partial checksum (NEEDS_CSUM on transmit).
    CSUM = bit(0);
    /// 1: the driver handles packets with a partial checksum (on receive).
    GUEST_CSUM = bit(1);
    /// 7: the driver can receive TSOv4.
    GUEST_TSO4 = bit(7);
    /// 8: the driver can receive TSOv6.
    GUEST_TSO6 = bit(8);
    /// 9: the driver can receive TSO with ECN.
    GUEST_ECN = bit(9);
    /// 10: the driver can receive UFO.
    GUEST_UFO = bit(10);
    /// 11: the device can receive TSOv4.
    HOST_TSO4 = bit(11);
    /// 12: the device can receive TSOv6.
    HOST_TSO6 = bit(12);
    /// 13: the device can receive TSO with ECN.
    HOST_ECN = bit(13);
    /// 14: the device can receive UFO.
    HOST_UFO = bit(14);
    /// 15: the driver can merge receive buffers (`num_buffers`, a 12-byte header).
    MRG_RXBUF = bit(15);
    /// 32: the virtio 1.0 interface (a device-independent bit): little-endian, 12-byte header.
    VERSION_1 = bit(32);
    /// 54: the driver can receive USOv4.
    GUEST_USO4 = bit(54);
    /// 55: the driver can receive USOv6.
    GUEST_USO6 = bit(55);
    /// 56: the device can receive USO.
    HOST_USO = bit(56);
    /// 57: the device reports a hash per received packet (a 20-byte header).
    HASH_REPORT = bit(57);
    /// 59: the driver provides the exact `hdr_len`.
    GUEST_HDRLEN = bit(59);
    /// 65: the driver can receive GSO packets carried by a UDP tunnel.
    GUEST_UDP_TUNNEL_GSO = bit(65);
    /// 66: ... with a partial checksum in the outer UDP header.
    GUEST_UDP_TUNNEL_GSO_CSUM = bit(66);
    /// 67: the device can receive GSO packets carried by a UDP tunnel.
    HOST_UDP_TUNNEL_GSO = bit(67);
    /// 68: ... with a partial checksum in the outer UDP header.
    HOST_UDP_TUNNEL_GSO_CSUM = bit(68);
});

impl Features {
    /// No features.
    pub const EMPTY: Features = Features(0);

    /// Every feature named above (the names `Debug` prints).
    pub const KNOWN: Features = {
        let mut set = Features::EMPTY;
        let mut rows = NAMES;
        while let [(feature, _), rest @ ..] = rows {
            set = set.with(*feature);
            rows = rest;
        }
        set
    };

    /// The features that appear in [`RULES`] (F2): the table's 17 bits.
    pub const DEPENDENT: Features = {
        let mut set = Features::EMPTY;
        let mut rows: &[Requirement] = &RULES;
        while let [rule, rest @ ..] = rows {
            set = set.with(rule.feature).with(rule.requires);
            rows = rest;
        }
        set
    };

    /// A set from the two 64-bit words a transport carries (bits 0-63, 64-127).
    pub const fn from_words(low: u64, high: u64) -> Features {
        Features(((high as u128) << 64) | low as u128)
    }

    /// The set as two 64-bit words (bits 0-63, 64-127).
    pub const fn words(self) -> (u64, u64) {
        (self.0 as u64, (self.0 >> 64) as u64)
    }

    /// The bits in both.
    pub const fn and(self, other: Features) -> Features {
        Features(self.0 & other.0)
    }

    /// The first rule of [`RULES`] (in table order) that `self` breaks, if any (F2).
    pub fn broken_rule(self) -> Option<&'static Requirement> {
        RULES.iter().find(|r| !r.holds(self))
    }

    /// The largest subset of `self` that keeps every rule of [`RULES`]: features whose
    /// requirement is missing are dropped until nothing changes (a driver's way to accept "as
    /// much as it can" of an offer).
    pub fn closure(self) -> Features {
        let mut set = self;
        // Each pass drops at least one feature or ends; 17 features bound the passes.
        for _ in 0..=RULES.len() {
            let Some(rule) = set.broken_rule() else {
                break;
            };
            set = set.without(rule.feature);
        }
        set
    }

    /// The offer a device backed by an endpoint with `support` may make (F5): CSUM when the
    /// endpoint completes TCP and UDP checksums; HOST_TSO6 with TSO; HOST_TSO4 with TSO and the
    /// IPv4 header checksum (M6 asks for it on IPv4 segments); HOST_USO with USO and the IPv4
    /// header checksum (USO covers both versions). Every segmentation bit also needs CSUM (F2).
    pub const fn device_offer(support: &TxOffloadSupport) -> Features {
        if !(support.tcp && support.udp) {
            return Features::EMPTY;
        }
        let mut f = Features::CSUM;
        if support.tso {
            f = f.with(Features::HOST_TSO6);
            if support.ipv4_header {
                f = f.with(Features::HOST_TSO4);
            }
        }
        if support.uso && support.ipv4_header {
            f = f.with(Features::HOST_USO);
        }
        f
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut rest = self.0;
        for &(feature, name) in NAMES {
            if self.contains(feature) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !feature.0;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{rest:#x}")?;
        } else if first {
            f.write_str("(empty)")?;
        }
        Ok(())
    }
}

/// The name of a single feature bit, `None` for a set or a bit vnet does not name.
pub fn feature_name(feature: Features) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(f, _)| *f == feature)
        .map(|(_, name)| *name)
}

/// How a [`Requirement`] combines its required features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Needs {
    /// Every one of them.
    All,
    /// At least one of them.
    Any,
}

/// One row of the spec's "Feature bit requirements": `feature` requires `requires` (all or any).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    /// The feature with the requirement.
    pub feature: Features,
    /// What it requires.
    pub requires: Features,
    /// All of `requires`, or any one.
    pub needs: Needs,
}

impl Requirement {
    /// Whether `set` keeps this rule: without `feature`, always.
    pub const fn holds(&self, set: Features) -> bool {
        if !set.contains(self.feature) {
            return true;
        }
        match self.needs {
            Needs::All => set.contains(self.requires),
            Needs::Any => set.intersects(self.requires),
        }
    }
}

const fn all(feature: Features, requires: Features) -> Requirement {
    Requirement {
        feature,
        requires,
        needs: Needs::All,
    }
}

const fn any(feature: Features, requires: Features) -> Requirement {
    Requirement {
        feature,
        requires,
        needs: Needs::Any,
    }
}

/// F2: the spec's feature-bit requirements for the offload bits ("Feature bits / Feature bit
/// requirements", 5.1.3.1), in the spec's order. The control-queue rows (CTRL_RX ... RSS) and
/// RSC_EXT are not modelled: vnet names none of those bits.
pub const RULES: [Requirement; 15] = [
    all(F::GUEST_TSO4, F::GUEST_CSUM),
    all(F::GUEST_TSO6, F::GUEST_CSUM),
    any(F::GUEST_ECN, F::GUEST_TSO4.with(F::GUEST_TSO6)),
    all(F::GUEST_UFO, F::GUEST_CSUM),
    all(F::GUEST_USO4, F::GUEST_CSUM),
    all(F::GUEST_USO6, F::GUEST_CSUM),
    all(F::GUEST_UDP_TUNNEL_GSO, GUEST_GSO),
    all(F::GUEST_UDP_TUNNEL_GSO_CSUM, F::GUEST_UDP_TUNNEL_GSO),
    all(F::HOST_TSO4, F::CSUM),
    all(F::HOST_TSO6, F::CSUM),
    any(F::HOST_ECN, F::HOST_TSO4.with(F::HOST_TSO6)),
    all(F::HOST_UFO, F::CSUM),
    all(F::HOST_USO, F::CSUM),
    all(F::HOST_UDP_TUNNEL_GSO, HOST_GSO),
    all(F::HOST_UDP_TUNNEL_GSO_CSUM, F::HOST_UDP_TUNNEL_GSO),
];

/// The table's name for [`Features`], so that each row fits a line as in the spec.
type F = Features;

/// What UDP-tunnel GSO requires, any one of: the driver's TCP and UDP segmentation bits ...
const GUEST_GSO: Features = F::GUEST_TSO4
    .with(F::GUEST_TSO6)
    .with(F::GUEST_USO4)
    .with(F::GUEST_USO6);
/// ... and the device's.
const HOST_GSO: Features = F::HOST_TSO4.with(F::HOST_TSO6).with(F::HOST_USO);
