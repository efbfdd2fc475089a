//! What core's flag sets share (`hdr::Flags`, `meta::TxFlags`, `wire::TcpFlags`,
//! `virtio::Features`, and vnet-host's `Offloads`), written once: the constants and their names
//! (`flag_set!`), the set operations (`set_ops!`, `flag_ops!`) and the `Debug` output: the names
//! of the set bits joined by `|`, then any unnamed rest in hex (`NEEDS_CSUM|0x30`, the form the
//! golden files hold); no bit at all prints as `0x00`. (`Features` keeps its own `Debug`: 128
//! bits, and `(empty)` for none; `TxFlags` names its bits apart, `debug_names!`, as its constants
//! carry an `OFFLOAD_` prefix its names do not.)

use core::fmt;

/// `|`, `|=`, `&` and `!` for a flag set, a transparent newtype over an integer: core's
/// [`wire::TcpFlags`] and vnet-host's `Offloads` share them. `!` complements within `$all` when
/// given (bits outside it are not flags), else every bit. Not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! flag_ops {
    ($t:ident $(, not within $all:path)?) => {
        impl ::core::ops::BitOr for $t {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }

        impl ::core::ops::BitOrAssign for $t {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }

        impl ::core::ops::BitAnd for $t {
            type Output = Self;
            fn bitand(self, rhs: Self) -> Self {
                Self(self.0 & rhs.0)
            }
        }

        impl ::core::ops::Not for $t {
            type Output = Self;
            $(#[doc = concat!("The complement within [`", stringify!($all), "`].")])?
            fn not(self) -> Self {
                Self(!self.0 $(& $all.0)?)
            }
        }
    };
}

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

/// A flag set's named bits, each written once: the constants (with `set_ops!`), and their names
/// (the constants' own, in this order). `flag_set!(Type { /// doc  NAME = bits; ... })` adds a
/// `Debug` that prints the names, the unnamed rest in hex (`flag_names`); `flag_set!(Type,
/// names: TABLE { ... })` gives the names as `TABLE: &[(Type, &str)]` for a type whose own
/// `Debug` and lookups read them.
macro_rules! flag_set {
    ($t:ident { $($(#[$doc:meta])* $flag:ident = $bits:expr;)+ }) => {
        flag_set!(@consts $t { $($(#[$doc])* $flag = $bits;)+ });

        impl core::fmt::Debug for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                $crate::flag_names::write(f, self.0, &[$(($t::$flag.0, stringify!($flag))),+])
            }
        }
    };
    ($t:ident, names: $names:ident { $($(#[$doc:meta])* $flag:ident = $bits:expr;)+ }) => {
        flag_set!(@consts $t { $($(#[$doc])* $flag = $bits;)+ });

        /// Every named flag with its name, in the order of the constants.
        const $names: &[($t, &str)] = &[$(($t::$flag, stringify!($flag))),+];
    };
    (@consts $t:ident { $($(#[$doc:meta])* $flag:ident = $bits:expr;)+ }) => {
        impl $t {
            $($(#[$doc])* pub const $flag: $t = $t($bits);)+
        }

        set_ops!($t);
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
