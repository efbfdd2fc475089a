//! The `Debug` output of core's flag sets (`hdr::Flags`, `meta::TxFlags`, `wire::TcpFlags`): the
//! names of the set bits joined by `|`, then any unnamed rest in hex (`NEEDS_CSUM|0x30`, the form
//! the golden files hold); no bit at all prints as `0x00`.

use core::fmt;

/// Writes the names of the bits of `bits` found in `names`, then the unnamed rest.
pub(crate) fn write(f: &mut fmt::Formatter<'_>, bits: u16, names: &[(u16, &str)]) -> fmt::Result {
    let mut rest = bits;
    let mut first = true;
    for &(bit, name) in names {
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
