//! `arbitrary::Arbitrary` for the wire types that carry data.
//!
//! Written by hand because `#[derive(Arbitrary)]` on a type with fields expands to
//! `::std::thread_local!` (a recursion guard), and core links `std` only for its own tests. The
//! field-less enums (`Layer`, `Link`, `IpVersion`) use the derive. Every value of each type is
//! reachable.

use arbitrary::{Arbitrary, Result, Unstructured};

use super::ipv6::{ExtWalk, Ipv6FragmentInfo};
use super::{Error, EtherType, Headers, IpProtocol, TcpFlags};

/// `Arbitrary` for types built from arbitrary parts, each type's impl the same but for its shape:
/// `Type(_)` for a newtype, `Type { field, .. }` for a struct whose every field is `Arbitrary`.
macro_rules! from_parts {
    ($($t:ident $parts:tt;)+) => {$(
        impl<'a> Arbitrary<'a> for $t {
            fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
                Ok(from_parts!(@build u, $parts))
            }
        }
    )+};
    (@build $u:ident, (_)) => { Self($u.arbitrary()?) };
    (@build $u:ident, { $($field:ident),+ }) => { Self { $($field: $u.arbitrary()?),+ } };
}

from_parts! {
    IpProtocol(_);
    EtherType(_);
    TcpFlags(_);
    Ipv6FragmentInfo { header_offset, frag_offset, more_frags, ident };
    ExtWalk { protocol, header_len, fragment };
    Headers { l3_offset, ip, l3_len, protocol, l4_offset, fragment, vlan };
}

impl<'a> Arbitrary<'a> for Error {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.choose_index(8)? {
            0 => Error::Truncated {
                layer: u.arbitrary()?,
                need: u.arbitrary()?,
                have: u.arbitrary()?,
            },
            1 => Error::BadVersion(u.arbitrary()?),
            2 => Error::BadIhl(u.arbitrary()?),
            3 => Error::BadTotalLen {
                total_len: u.arbitrary()?,
                header_len: u.arbitrary()?,
            },
            4 => Error::BadDataOffset(u.arbitrary()?),
            5 => Error::BadUdpLength(u.arbitrary()?),
            6 => Error::UnsupportedEtherType(u.arbitrary()?),
            _ => Error::ExtensionChainTooLong,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_variant_reachable() {
        let mut seen = [false; 8];
        for first in 0..=255u8 {
            let data = [
                first, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
            ];
            let mut u = Unstructured::new(&data);
            let index = match Error::arbitrary(&mut u).unwrap() {
                Error::Truncated { .. } => 0,
                Error::BadVersion(_) => 1,
                Error::BadIhl(_) => 2,
                Error::BadTotalLen { .. } => 3,
                Error::BadDataOffset(_) => 4,
                Error::BadUdpLength(_) => 5,
                Error::UnsupportedEtherType(_) => 6,
                Error::ExtensionChainTooLong => 7,
            };
            if let Some(s) = seen.get_mut(index) {
                *s = true;
            }
        }
        assert_eq!(seen, [true; 8]);
    }

    #[test]
    fn headers_from_bytes() {
        let data = [0x5a_u8; 64];
        let h = Headers::arbitrary(&mut Unstructured::new(&data)).unwrap();
        assert_eq!(h.protocol, IpProtocol(0x5a));
    }
}
