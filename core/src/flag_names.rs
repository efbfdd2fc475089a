//! What core's flag sets share (`hdr::Flags`, `meta::TxFlags`, `wire::TcpFlags`,
//! `virtio::Features`), written once: the set operations (`set_ops!`) and the `Debug` output
//! (`debug_names!`): the names of the set bits joined by `|`, then any unnamed rest in hex
//! (`NEEDS_CSUM|0x30`, the form the golden files hold); no bit at all prints as `0x00`.
//! (`Features` keeps its own `Debug`: 128 bits, and `(empty)` for none.)

use core::fmt;

/// `contains`, `intersects`, `with` and `without` for a transparent newtype over an integer.
macro_rules! set_ops {
    ($t:ident) => {
        impl $t {
            /// Whether every bit of `other` is set in `self`.
            pub const fn contains(self, other: $t) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether any bit of `other` is set in `self`.
            pub const fn intersects(self, other: $t) -> bool {
                self.0 & other.0 != 0
            }

            /// `self` with the bits of `other` added.
            pub const fn with(self, other: $t) -> $t {
                $t(self.0 | other.0)
            }

            /// `self` with the bits of `other` removed.
            pub const fn without(self, other: $t) -> $t {
                $t(self.0 & !other.0)
            }
        }
    };
}

/// `Debug` for a flag set over `u8` or `u16`: `debug_names!(Type: CONST => "NAME", ...)`, the
/// names in the order they print.
macro_rules! debug_names {
    ($t:ident: $($flag:ident => $name:literal),+ $(,)?) => {
        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                $crate::flag_names::write(f, self.0, &[$(($t::$flag.0, $name)),+])
            }
        }
    };
}

/// Writes the names of the bits of `bits` found in `names`, then the unnamed rest.
pub(crate) fn write<B: Copy + Into<u16>>(
    f: &mut fmt::Formatter<'_>,
    bits: B,
    names: &[(B, &str)],
) -> fmt::Result {
    let mut rest: u16 = bits.into();
    let mut first = true;
    for &(bit, name) in names {
        let bit: u16 = bit.into();
        if rest & bit != 0 {
            if !first {
                f.write_str("|")?;
            }
            f.write_str(name)?;
            rest &= !bit;
            first = false;
        }
    }
    if rest != 0 || first {
        if !first {
            f.write_str("|")?;
        }
        write!(f, "{rest:#04x}")?;
    }
    Ok(())
}
