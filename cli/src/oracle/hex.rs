//! Hex text in and out: the oracle's wire format.

use std::fmt;

/// Why a line is not hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexError {
    /// An odd number of digits.
    OddLength(usize),
    /// A character that is not a hex digit, at this column (0-based).
    BadDigit {
        /// The character.
        found: char,
        /// Its column.
        column: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::OddLength(n) => write!(f, "odd number of hex digits ({n})"),
            HexError::BadDigit { found, column } => {
                write!(f, "{found:?} at column {column} is not a hex digit")
            }
        }
    }
}

impl std::error::Error for HexError {}

/// Decodes hex digits (either case); spaces, tabs and `:` between bytes are ignored.
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let mut digits = Vec::with_capacity(text.len());
    for (column, c) in text.char_indices() {
        match c {
            ' ' | '\t' | ':' => {}
            _ => match c.to_digit(16) {
                Some(d) => digits.push(d as u8),
                None => return Err(HexError::BadDigit { found: c, column }),
            },
        }
    }
    if digits.len() % 2 == 1 {
        return Err(HexError::OddLength(digits.len()));
    }
    Ok(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// Lower-case hex, no separators.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(decode("45 00:Ab").unwrap(), vec![0x45, 0x00, 0xab]);
        assert_eq!(encode(&[0x45, 0x00, 0xab]), "4500ab");
        assert_eq!(decode("450"), Err(HexError::OddLength(3)));
        assert_eq!(
            decode("4g"),
            Err(HexError::BadDigit {
                found: 'g',
                column: 1
            })
        );
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }
}
