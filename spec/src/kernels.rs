//! Kernel profiles by index: two bits of a fuzz input or a law's loop pick one of the named
//! profiles, so that every target and law runs under every kernel line's rules (0, what old corpus
//! files hold, is the newest).

use vnet_core::kernel::{self, Profile};

/// The profiles a fuzz input can name, by index; the USO segment limit is carried apart.
pub const KERNELS: [Profile; 4] = [
    Profile::NEWEST,
    kernel::LINUX_6_18_DISSECT,
    kernel::LINUX_6_1,
    kernel::LINUX_6_12,
];

/// The profile at `index` (its low two bits) with `udp_max_segments` as given.
pub fn kernel_from_index(index: u8, udp_max_segments: u16) -> Profile {
    Profile {
        udp_max_segments,
        ..KERNELS[usize::from(index & 3)]
    }
}

/// The index that [`kernel_from_index`] maps back to `profile` (facts other than the USO
/// limit), or 0 for a combination no index names.
pub fn kernel_index(profile: &Profile) -> u8 {
    KERNELS
        .iter()
        .position(|k| {
            Profile {
                udp_max_segments: profile.udp_max_segments,
                ..*k
            } == *profile
        })
        .map_or(0, |i| i as u8)
}
