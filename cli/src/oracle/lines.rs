//! The oracle's input: lines read as bytes, each kept to [`MAX_LINE_BYTES`] (O1), decoded as
//! UTF-8 one by one (O2), so that one bad line is one malformed answer and the rest are still
//! answered; and the two drivers, one answer per line ([`run_lines`]) or per blank-line-separated
//! batch ([`run_batches`], batches kept to [`Batch`]'s limits, O3). Malformed input is answered
//! with an error object naming its line (`"line"`), and reported on stderr as `line N: ...`.

use std::io::{self, BufRead, Write};

use super::limits::{self, Batch, MAX_LINE_BYTES};
use super::{Answer, At, ErrorCode, InputError, hex};

/// One input line: its text, or the refusal it earned (O1, O2).
#[derive(Debug)]
pub enum Line<'a> {
    /// The line, without its newline.
    Text(&'a str),
    /// Not UTF-8 text, or too long: why it is refused.
    Refused(InputError),
}

/// Reads lines of at most [`MAX_LINE_BYTES`] bytes: the rest of a longer line is read and
/// dropped, never held.
#[derive(Debug)]
pub struct Lines<R> {
    input: R,
    buf: Vec<u8>,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `input`, numbered from 1.
    pub fn new(input: R) -> Lines<R> {
        Lines {
            input,
            buf: Vec::new(),
            number: 0,
        }
    }

    /// The number of the line [`Lines::next_line`] returned last.
    pub fn number(&self) -> usize {
        self.number
    }

    /// The next line, `None` at the end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let Some(len) = self.read_bounded()? else {
            return Ok(None);
        };
        self.number += 1;
        if len > MAX_LINE_BYTES {
            return Ok(Some(Line::Refused(limits::line_too_long(len))));
        }
        Ok(Some(match std::str::from_utf8(&self.buf) {
            Ok(text) => Line::Text(text.strip_suffix('\r').unwrap_or(text)),
            Err(e) => Line::Refused(limits::not_utf8(&e)),
        }))
    }

    /// Reads up to the next newline into `buf`, keeping at most `MAX_LINE_BYTES + 1` bytes;
    /// returns the line's whole length, `None` at the end of input.
    fn read_bounded(&mut self) -> io::Result<Option<usize>> {
        self.buf.clear();
        let mut len = 0usize;
        let mut started = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(started.then_some(len));
            }
            started = true;
            let newline = chunk.iter().position(|&b| b == b'\n');
            let (part, used) = match newline {
                Some(at) => (chunk.get(..at).unwrap_or_default(), at + 1),
                None => (chunk, chunk.len()),
            };
            let room = (MAX_LINE_BYTES + 1).saturating_sub(self.buf.len());
            self.buf
                .extend_from_slice(part.get(..room.min(part.len())).unwrap_or_default());
            len = len.saturating_add(part.len());
            self.input.consume(used);
            if newline.is_some() {
                return Ok(Some(len));
            }
        }
    }
}

/// Writes `line N: what` to stderr; stderr that cannot be written is no reason to stop.
pub(super) fn report(number: usize, what: &str) {
    let _ = writeln!(io::stderr(), "line {number}: {what}");
}

/// Why a line is not hex.
fn hex_error(e: hex::HexError) -> InputError {
    let code = match e {
        hex::HexError::OddLength(_) => ErrorCode::HexOddLength,
        _ => ErrorCode::HexDigit,
    };
    InputError::new(code, e.to_string())
}

/// Writes an error object for line `number` to `out`, and `line N: message` to stderr.
fn refuse(out: &mut dyn Write, number: usize, e: &InputError) -> io::Result<()> {
    report(number, &e.message);
    writeln!(out, "{}", e.to_json(Some(At::Line(number))))
}

/// Answers every line of `input` with `answer` (blank lines are skipped); a line that is not hex,
/// not UTF-8 (O2) or too long (O1) is answered with an error object, reported with its line
/// number on stderr. Returns how many lines were malformed.
pub fn run_lines(
    input: impl BufRead,
    mut out: impl Write,
    mut answer: impl FnMut(&[u8]) -> Answer,
) -> io::Result<usize> {
    let mut malformed = 0;
    let mut lines = Lines::new(input);
    while let Some(line) = lines.next_line()? {
        let reply = match line {
            Line::Refused(refusal) => Answer::Malformed(refusal),
            Line::Text(text) => {
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                match hex::decode(text) {
                    Ok(bytes) => answer(&bytes),
                    Err(e) => Answer::Malformed(hex_error(e)),
                }
            }
        };
        match reply {
            Answer::Malformed(e) => {
                malformed += 1;
                refuse(&mut out, lines.number(), &e)?;
            }
            reply => writeln!(out, "{}", reply.to_json(None))?,
        }
    }
    Ok(malformed)
}

/// Reads batches of hex packets separated by blank lines (or the end of input) and answers each
/// batch with `answer`. A line that is not hex, not UTF-8 (O2) or too long (O1) is answered at
/// once with an error object naming it, reported on stderr, and left out of its batch; a batch
/// over the limits (O3) is answered with one error object naming its first line, `answer` never
/// sees it. Returns how many lines or batches were malformed.
pub fn run_batches(
    input: impl BufRead,
    mut out: impl Write,
    mut answer: impl FnMut(&[Vec<u8>]) -> Answer,
) -> io::Result<usize> {
    let mut malformed = 0;
    let mut batch = Batch::new();
    // The line the batch being read started on.
    let mut first = 0;
    let mut flush =
        |batch: &mut Batch, first: usize, out: &mut dyn Write, malformed: &mut usize| {
            if batch.is_empty() {
                return Ok(());
            }
            let reply = match batch.take() {
                Ok(packets) => answer(&packets),
                Err(refusal) => Answer::Malformed(refusal),
            };
            match reply {
                Answer::Malformed(e) => {
                    *malformed += 1;
                    refuse(out, first, &e)
                }
                reply => writeln!(out, "{}", reply.to_json(None)),
            }
        };
    let mut lines = Lines::new(input);
    while let Some(line) = lines.next_line()? {
        let text = match line {
            Line::Text(text) => text.trim(),
            Line::Refused(refusal) => {
                malformed += 1;
                refuse(&mut out, lines.number(), &refusal)?;
                continue;
            }
        };
        if text.is_empty() {
            flush(&mut batch, first, &mut out, &mut malformed)?;
            continue;
        }
        match hex::decode(text) {
            Ok(bytes) => {
                if batch.is_empty() {
                    first = lines.number();
                }
                batch.push(bytes);
            }
            Err(e) => {
                malformed += 1;
                refuse(&mut out, lines.number(), &hex_error(e))?;
            }
        }
    }
    flush(&mut batch, first, &mut out, &mut malformed).map(|()| malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::csum_line;

    #[test]
    fn batches_are_split_by_blank_lines() {
        let input = "4500\n4501\n\nzz\n4502\n";
        let mut out = Vec::new();
        let malformed = run_batches(input.as_bytes(), &mut out, |batch| {
            let mut m = crate::oracle::fields(true);
            m.insert("n".into(), batch.len().into());
            Answer::Reply(m)
        })
        .unwrap();
        assert_eq!(malformed, 1);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"v\":1,\"ok\":true,\"n\":2}\n\
             {\"v\":1,\"ok\":false,\"code\":\"hex_digit\",\"line\":4,\"message\":\"'z' at column 0 is not a hex digit\"}\n\
             {\"v\":1,\"ok\":true,\"n\":1}\n"
        );
    }

    #[test]
    fn lines_with_errors_are_numbered_and_the_rest_answered() {
        let input = "45000014\n\nzz\n450\n";
        let mut out = Vec::new();
        let malformed = run_lines(input.as_bytes(), &mut out, csum_line).unwrap();
        assert_eq!(malformed, 2);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            r#"{"v":1,"ok":true,"sum":"4514","checksum":"baeb","verifies":false}"#
        );
        assert!(lines[1].contains(r#""code":"hex_digit","line":3,"#));
        assert!(lines[2].contains(r#""code":"hex_odd_length","line":4,"#));
    }

    #[test]
    fn o1_o2_a_long_or_non_utf8_line_is_one_refusal() {
        let mut input = b"45\xff00\n".to_vec();
        input.extend(std::iter::repeat_n(b'0', MAX_LINE_BYTES + 2));
        input.extend_from_slice(b"\r\n4500\r\n\n4500");
        let mut lines = Lines::new(input.as_slice());
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            seen.push(match line {
                Line::Text(t) => t.to_owned(),
                Line::Refused(e) => e.message,
            });
        }
        assert!(seen[0].starts_with("O2: line is not UTF-8 text (invalid byte at column 2)"));
        assert!(seen[1].starts_with("O1: line of 262147 bytes is longer than the limit of 262144"));
        assert_eq!(seen[2..], ["4500", "", "4500"]);
        assert_eq!(lines.number(), 5);
    }
}
