//! The oracle's bounds (rules O1-O4 in `spec/RULES.md`): how long a line and how large a batch
//! may be, so that memory stays bounded whatever the input, and the numbered answers that refuse
//! what goes beyond them.

use super::{ErrorCode, InputError};

/// O1: the longest input line, in bytes, its newline not counted. A 65,535-byte packet behind a
/// 24-byte header and a 14-byte Ethernet header is 131,146 hex digits, or 196,719 characters
/// written `45 00 …` or `45:00:…`; 256 KiB leaves room for that.
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// O3: the most packets in one `coalesce` batch (a pcap capture is one batch).
pub const MAX_BATCH_PACKETS: usize = 1_000_000;

/// O3: the most packet bytes in one `coalesce` batch.
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// A refusal under `code`'s rule: its message starts with the rule id (`O1: ...`).
fn refusal(code: ErrorCode, error: &str) -> InputError {
    InputError::new(code, format!("{}: {error}", code.rule().unwrap_or("?")))
}

/// O1: the refusal of a line longer than [`MAX_LINE_BYTES`].
pub fn line_too_long(len: usize) -> InputError {
    refusal(
        ErrorCode::LineTooLong,
        &format!("line of {len} bytes is longer than the limit of {MAX_LINE_BYTES}"),
    )
}

/// O2: the refusal of a line that is not UTF-8 text.
pub fn not_utf8(error: &std::str::Utf8Error) -> InputError {
    refusal(
        ErrorCode::NotUtf8,
        &format!(
            "line is not UTF-8 text (invalid byte at column {})",
            error.valid_up_to()
        ),
    )
}

/// O3: the refusal of a batch over [`MAX_BATCH_PACKETS`] or [`MAX_BATCH_BYTES`].
pub fn batch_too_large(packets: usize, bytes: usize) -> InputError {
    refusal(
        ErrorCode::BatchTooLarge,
        &format!(
            "batch of {packets} packets and {bytes} bytes (so far) exceeds the limit of \
             {MAX_BATCH_PACKETS} packets or {MAX_BATCH_BYTES} bytes; refused whole"
        ),
    )
}

/// A batch that keeps to the limits, or the refusal it has earned: packets are pushed one by
/// one, and once a limit is passed the packets are dropped (memory is freed) and only counted.
#[derive(Debug, Default)]
pub struct Batch {
    packets: Vec<Vec<u8>>,
    count: usize,
    bytes: usize,
    over: bool,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a packet (or only counts it, once the batch is over its limits).
    pub fn push(&mut self, packet: Vec<u8>) {
        self.count += 1;
        self.bytes = self.bytes.saturating_add(packet.len());
        if self.over || self.count > MAX_BATCH_PACKETS || self.bytes > MAX_BATCH_BYTES {
            if !self.over {
                self.over = true;
                self.packets = Vec::new();
            }
            return;
        }
        self.packets.push(packet);
    }

    /// Whether nothing was pushed since the batch was made or taken.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The packets, or the O3 refusal; the batch is empty again.
    pub fn take(&mut self) -> Result<Vec<Vec<u8>>, InputError> {
        let batch = std::mem::take(self);
        if batch.over {
            return Err(batch_too_large(batch.count, batch.bytes));
        }
        Ok(batch.packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn o3_a_batch_over_its_limit_is_refused_whole() {
        let mut batch = Batch::new();
        assert!(batch.is_empty());
        batch.push(vec![0x45; 10]);
        assert_eq!(batch.take(), Ok(vec![vec![0x45; 10]]));
        assert!(batch.is_empty());
        batch.push(vec![0; MAX_BATCH_BYTES]);
        batch.push(vec![1]);
        let refused = batch.take().unwrap_err();
        assert_eq!(refused.code, ErrorCode::BatchTooLarge);
        assert!(refused.message.starts_with("O3: batch of 2 packets"));
        assert!(batch.is_empty());
    }
}
