//! Kernel profiles: the behaviours that differ between Linux kernel lines, as named facts.
//!
//! vnet's validation and offloads give what *a* Linux kernel gives, and kernels differ: 6.1 has
//! no USO on TUN, older lines cap USO at 64 segments, some builds dissect a GSO packet at write
//! time. A [`Profile`] states each such fact once, as data; `check`, `gso` and `gro` read it from
//! their options (never per packet), and nothing in vnet tests a version number. Each field is a
//! K row of `spec/RULES.md`, with the kernels it was measured on.
//!
//! The named profiles are what the kernel lines measured so far do ([`PROFILES`]); `vnet_host`
//! probes the running kernel for its own ([`Profile`] values that match none are reported as an
//! unknown combination, and still used as they are).
//!
//! ```
//! use vnet_core::check::CheckOptions;
//! use vnet_core::kernel::{LINUX_6_1, Profile};
//! assert_eq!(Profile::named("linux-6.1"), Some(LINUX_6_1));
//! assert!(!LINUX_6_1.uso); // no USO on TUN before 6.2 (K16)
//! // A kernel that matches no named profile: USO capped at 64 segments, as before 6.9 (K4).
//! let older = Profile { udp_max_segments: 64, ..Profile::NEWEST };
//! assert_eq!(older.name(), None);
//! const OPTS: CheckOptions = CheckOptions::DEFAULT.with_kernel(LINUX_6_1);
//! assert_eq!(OPTS.kernel.name(), Some("linux-6.1"));
//! ```

/// What one kernel does where kernels differ. Build one with a named constant and struct update
/// syntax (`Profile { uso: false, ..Profile::NEWEST }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Profile {
    /// K15: a GSO packet written to a TUN without NEEDS_CSUM is dissected at write time (V9: the
    /// transport protocol and IP version must be the GSO type's, and V5 measures the payload from
    /// the real transport offset; `44378d02c5aa`, "net: always dissect GSO packets in
    /// __virtio_net_hdr_to_skb()"). Measured: yes on one 6.18.44 build, no on another 6.18.44
    /// build, 6.12 and 6.1.
    pub write_dissects_gso: bool,
    /// K16: `gso_type` UDP_L4 (USO) is accepted on write (`860b7f27b8f7`, 6.2). Measured: no on
    /// 6.1 (EINVAL, and TUNSETOFFLOAD refuses the USO bits), yes on 6.12 and 6.18.
    pub uso: bool,
    /// K4: the most USO segments one packet may carry (`UDP_MAX_SEGMENTS`, 64 before
    /// `1382e3b6a350`, 6.9 and stable). Measured: 128 on 6.12 and 6.18; 6.1 has no USO on TUN
    /// (its source says 128).
    pub udp_max_segments: u16,
    /// K17: with NEEDS_CSUM, `csum_start` must lie past a minimal IP header (20, or 40 for TCPV6),
    /// GSO or not (V3; `49d14b54a527`, 6.12). Measured: yes on 6.12 and 6.18, no on 6.1.
    pub csum_start_past_ip_header: bool,
    /// K18: without NEEDS_CSUM (and without K15's dissection), a GSO packet's headers are
    /// assumed to start with a minimal IP header: V3 needs it plus the transport header, and V5
    /// counts the payload after both (`9181d6f8a2bb`, 6.8). Without it, only the transport
    /// header's length is assumed. Measured: yes on 6.12 and 6.18, no on 6.1.
    pub gso_min_ip_header: bool,
    /// K19: TCP GSO sizes below this are raised to it on write, before V5 and segmentation
    /// (`TCP_MIN_GSO_SIZE`, 8; `c27c449d455a`); 0 where the kernel takes `gso_size` as written.
    /// Measured: 8 on 6.1.192 and 6.12.118, 0 on 6.18.44.
    pub tcp_min_gso_size: u16,
    /// K1: TUN compares `hdr_len` with what follows the part of the vnet header it parsed (10
    /// bytes, 24 with the tunnel layout), so the rest of a 12- or 20-byte header counts as packet
    /// (T14). Without it, `hdr_len` may not exceed the packet. Measured: yes on 6.18, no on 6.1
    /// and 6.12 (6.18's `tun_vnet_hdr_get` checks before it skips the unparsed bytes).
    pub hdr_len_counts_unparsed_header: bool,
    /// K21: GRO compares the CWR bit of a held segment and the next one of its flow, so a held
    /// segment with CWR takes no others (6.18: the flags mask is `~(FIN|PSH)`); older lines mask
    /// CWR out (`~(CWR|FIN|PSH)`), so a CWR segment that starts a flow takes the segments that
    /// follow. Either way a CWR segment completes a held packet it meets, and goes alone.
    /// Measured: yes on 6.18, no on 6.1 and 6.12.
    pub gro_cwr_must_match: bool,
    /// K22: software segmentation of a TCP/IPv6 super-packet with a destination-options header
    /// mostly delivers nothing (accepted on write, then dropped; also what GRO merged, on the
    /// way out). Measured on 6.12.118: every 8-byte header dropped, 32-byte ones with random
    /// option data dropped 2 times in 6, hop-by-hop alone never; never on 6.1.192 or 6.18.44.
    /// Not modelled (vnet segments such packets, as 6.1 and 6.18 do): the kernel differentials
    /// set them aside where this holds. The cause lies in 6.12's stable updates after 6.12.117.
    pub tcp6_gso_drops_dest_opts: bool,
    /// K23: GRO takes a flow whose second segment repeats the first's IPv4 ID as a fixed-ID
    /// train only when DF is set (`inet_gro_flush` before 6.18); without DF the repeat completes
    /// the held packet. 6.18 takes it whatever DF says. Measured: DF needed on 6.1 and 6.12, not
    /// on 6.18.
    pub gro_fixed_id_needs_df: bool,
    /// K20: a TUN with a 24-byte header accepts UDP-tunnel GSO writes (V7; `a2fb4bc4e2a6`,
    /// "net: implement virtio helpers to handle UDP GSO tunneling", and `288f30435132`, "tun:
    /// enable gso over UDP tunnel support", 6.17). The header size alone is the negotiation on
    /// write (`tun_vnet_hdr_guest_features`), whatever TUNSETOFFLOAD says; without it the tunnel
    /// bits are an unknown GSO type (V1). Measured: yes on 6.18.44; 6.1 and 6.12 predate it.
    pub udp_tunnel_gso: bool,
}

impl Profile {
    /// The newest line measured; what vnet assumes when told nothing.
    pub const NEWEST: Profile = LINUX_6_18;

    /// The named profile equal to this one, if any.
    pub fn name(&self) -> Option<&'static str> {
        PROFILES
            .iter()
            .find(|(_, p)| p == self)
            .map(|(name, _)| *name)
    }

    /// The profile of that name (`linux-6.1`, `linux-6.12`, `linux-6.18`, ...).
    pub fn named(name: &str) -> Option<Profile> {
        PROFILES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
    }
}

/// The value of one fact, for tables and JSON. A new kind of fact may add a kind of value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// A behaviour the kernel has or lacks.
    Flag(bool),
    /// A limit.
    Count(u16),
}

impl core::fmt::Display for Value {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Value::Flag(b) => write!(f, "{b}"),
            Value::Count(n) => write!(f, "{n}"),
        }
    }
}

/// One fact of a profile: its field name, its K row in `spec/RULES.md`, and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fact {
    /// The field of [`Profile`].
    pub name: &'static str,
    /// The K row that records it.
    pub rule: &'static str,
    /// Its value in this profile.
    pub value: Value,
}

/// The [`Fact`]s of profile `p`, each `field: ValueKind "K row"`: the field's name is its own.
macro_rules! facts {
    ($p:ident: $($field:ident: $kind:ident $rule:literal,)+) => {
        [$(Fact {
            name: stringify!($field),
            rule: $rule,
            value: Value::$kind($p.$field),
        }),+]
    };
}

impl Profile {
    /// Every fact, in field order: the one list that tables, JSON and reports are made from.
    pub const fn facts(&self) -> [Fact; 11] {
        let p = self;
        facts![p:
            write_dissects_gso: Flag "K15",
            uso: Flag "K16",
            udp_max_segments: Count "K4",
            csum_start_past_ip_header: Flag "K17",
            gso_min_ip_header: Flag "K18",
            tcp_min_gso_size: Count "K19",
            hdr_len_counts_unparsed_header: Flag "K1",
            gro_cwr_must_match: Flag "K21",
            tcp6_gso_drops_dest_opts: Flag "K22",
            gro_fixed_id_needs_df: Flag "K23",
            udp_tunnel_gso: Flag "K20",
        ]
    }
}

impl Default for Profile {
    fn default() -> Profile {
        Profile::NEWEST
    }
}

/// Linux 6.1 (Debian 12's `linux-image-6.1.0-57-amd64`, 6.1.192), measured under QEMU.
pub const LINUX_6_1: Profile = Profile {
    write_dissects_gso: false,
    uso: false,
    udp_max_segments: 128,
    csum_start_past_ip_header: false,
    gso_min_ip_header: false,
    tcp_min_gso_size: 8,
    hdr_len_counts_unparsed_header: false,
    gro_cwr_must_match: false,
    tcp6_gso_drops_dest_opts: false,
    gro_fixed_id_needs_df: true,
    udp_tunnel_gso: false,
};

/// Linux 6.12 (Debian's `linux-image-6.12.118+deb12-amd64`), measured under QEMU: 6.1 with the
/// facts set here changed (K16, K17, K18, K22).
pub const LINUX_6_12: Profile = Profile {
    uso: true,
    csum_start_past_ip_header: true,
    gso_min_ip_header: true,
    tcp6_gso_drops_dest_opts: true,
    ..LINUX_6_1
};

/// Linux 6.18: the 6.18.44 build this project was first built and tested on. It differs from
/// this project's present 6.18.44 build in K15 only ([`LINUX_6_18_DISSECT`], where K1, K4,
/// K16-K23 were measured); 6.18.35's source agrees on K15 and K19. 6.12 with the facts set here
/// changed (K19, K1, K21, K22, K23, K20).
pub const LINUX_6_18: Profile = Profile {
    tcp_min_gso_size: 0,
    hdr_len_counts_unparsed_header: true,
    gro_cwr_must_match: true,
    tcp6_gso_drops_dest_opts: false,
    gro_fixed_id_needs_df: false,
    udp_tunnel_gso: true,
    ..LINUX_6_12
};

/// A 6.18 build that dissects GSO packets written without NEEDS_CSUM (K15: it carries
/// `44378d02c5aa`); this project's present kernel, 6.18.44-fc.
pub const LINUX_6_18_DISSECT: Profile = Profile {
    write_dissects_gso: true,
    ..LINUX_6_18
};

/// Every named profile, oldest line first; a name is what `--kernel` takes.
pub const PROFILES: [(&str, Profile); 4] = [
    ("linux-6.1", LINUX_6_1),
    ("linux-6.12", LINUX_6_12),
    ("linux-6.18", LINUX_6_18),
    ("linux-6.18-dissect", LINUX_6_18_DISSECT),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_distinct_and_named() {
        for (i, (name, profile)) in PROFILES.iter().enumerate() {
            assert_eq!(profile.name(), Some(*name));
            assert_eq!(Profile::named(name), Some(*profile));
            for (other, p) in PROFILES.iter().skip(i + 1) {
                assert_ne!(profile, p, "{name} and {other} are the same profile");
            }
        }
        assert_eq!(Profile::default(), Profile::NEWEST);
        assert_eq!(Profile::named("linux-2.6"), None);
    }
}
