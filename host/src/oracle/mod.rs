//! The oracle: vnet's answers in a language-neutral form (hex in, one JSON object out per line),
//! so that an implementation in any language can diff itself against vnet. The `vnet` program's
//! `check`, `segment`, `coalesce`, `csum` and `inspect` subcommands are thin wrappers around these
//! functions; their output format is stable and documented in the README.

pub mod hex;
pub mod json;

use std::io::{self, BufRead, Write};

use vnet_core::check::{self, CheckError, CheckOptions, GsoKind, Offload};
use vnet_core::csum;
use vnet_core::hdr::{Endian, Layout, VnetHdr};

use json::Object;

/// How an input frame is laid out: a virtio-net header, then the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// The header layout (10, 12, 20 or 24 bytes).
    pub layout: Layout,
    /// The header's byte order.
    pub endian: Endian,
}

impl Default for Format {
    fn default() -> Format {
        Format {
            layout: Layout::V1,
            endian: Endian::Little,
        }
    }
}

/// An answer: the JSON line, and whether the input itself was malformed (bad hex, a truncated
/// header), which makes the program exit non-zero while the other lines are still answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// One JSON object.
    pub json: String,
    /// The input line was malformed.
    pub malformed: bool,
}

impl Answer {
    fn ok(json: String) -> Answer {
        Answer {
            json,
            malformed: false,
        }
    }

    fn malformed(error: &str) -> Answer {
        Answer {
            json: Object::new().bool("ok", false).str("error", error).finish(),
            malformed: true,
        }
    }
}

/// The JSON form of a rejection: `{"ok":false,"rule":"V3","error":"..."}`.
pub fn rejection(e: &CheckError) -> String {
    Object::new()
        .bool("ok", false)
        .str("rule", e.rule())
        .str("error", &e.to_string())
        .finish()
}

/// Splits a frame into its header and packet.
pub fn split_frame<'a>(frame: &'a [u8], format: &Format) -> Result<(VnetHdr, &'a [u8]), String> {
    VnetHdr::read(frame, format.layout, format.endian).map_err(|e| e.to_string())
}

/// `vnet check`: what [`check::check`] makes of one frame.
pub fn check_frame(frame: &[u8], format: &Format, opts: &CheckOptions) -> Answer {
    let (hdr, pkt) = match split_frame(frame, format) {
        Ok(split) => split,
        Err(e) => return Answer::malformed(&e),
    };
    Answer::ok(match check::check(&hdr, pkt, opts) {
        Err(e) => rejection(&e),
        Ok(Offload::Plain) => Object::new()
            .bool("ok", true)
            .str("offload", "plain")
            .finish(),
        Ok(Offload::Checksum(c)) => Object::new()
            .bool("ok", true)
            .str("offload", "checksum")
            .num("csum_start", c.start)
            .num("csum_offset", c.offset)
            .finish(),
        Ok(Offload::Segment(req)) => Object::new()
            .bool("ok", true)
            .str("offload", "segment")
            .str("kind", kind_name(req.kind))
            .num("gso_size", req.gso_size)
            .num("hdr_len", req.hdr_len as u64)
            .num("payload_len", req.payload_len as u64)
            .num(
                "segments",
                req.payload_len.div_ceil(usize::from(req.gso_size)) as u64,
            )
            .bool("tunnel", req.tunnel.is_some())
            .finish(),
    })
}

fn kind_name(kind: GsoKind) -> &'static str {
    match kind {
        GsoKind::Tcp => "tcp",
        GsoKind::Uso => "uso",
        GsoKind::Ufo => "ufo",
    }
}

/// `vnet csum`: the folded sum of the bytes and the checksum to store (its complement), in hex.
pub fn csum_line(data: &[u8]) -> Answer {
    let sum = csum::sum(data);
    Answer::ok(
        Object::new()
            .bool("ok", true)
            .str("sum", &format!("{sum:04x}"))
            .str("checksum", &format!("{:04x}", csum::finish(sum)))
            .bool("verifies", csum::verify(data))
            .finish(),
    )
}

/// Answers every line of `input` with `answer` (blank lines are skipped); a line that is not hex
/// is answered with an error naming its line number. Returns how many lines were malformed.
pub fn run_lines(
    input: impl BufRead,
    mut out: impl Write,
    mut answer: impl FnMut(&[u8]) -> Answer,
) -> io::Result<usize> {
    let mut malformed = 0;
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let reply = match hex::decode(text) {
            Ok(bytes) => answer(&bytes),
            Err(e) => Answer::malformed(&e.to_string()),
        };
        if reply.malformed {
            malformed += 1;
            eprintln!("line {}: {}", index + 1, reply.json);
        }
        writeln!(out, "{}", reply.json)?;
    }
    Ok(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 12-byte LE header asking for TCP GSO (size 100, csum 20/16) + IPv4/TCP with 200 bytes.
    fn tso_frame() -> Vec<u8> {
        let mut frame = vec![1, 1, 40, 0, 100, 0, 20, 0, 16, 0, 0, 0];
        frame.extend_from_slice(&ipv4_tcp_200());
        frame
    }

    /// A valid IPv4/TCP packet with 200 bytes of payload, built by hand (host does not depend on
    /// vnet-spec): checksums are computed with vnet-core's csum.
    fn ipv4_tcp_200() -> Vec<u8> {
        let payload = vec![0x61u8; 200];
        let mut tcp = vec![0u8; 20];
        tcp[..4].copy_from_slice(&[0xc8, 0x22, 0x01, 0xbb]);
        tcp[12] = 0x50;
        tcp[13] = 0x10;
        tcp.extend_from_slice(&payload);
        let pseudo = csum::pseudo_header_v4([192, 0, 2, 1], [198, 51, 100, 2], 6, tcp.len() as u16);
        let c = csum::finish(csum::combine(pseudo, csum::sum(&tcp)));
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2,
        ];
        ip[2..4].copy_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
        let c = csum::finish(csum::sum(&ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&tcp);
        ip
    }

    #[test]
    fn check_answers() {
        let format = Format::default();
        let opts = CheckOptions::default();
        let answer = check_frame(&tso_frame(), &format, &opts);
        assert_eq!(
            answer.json,
            r#"{"ok":true,"offload":"segment","kind":"tcp","gso_size":100,"hdr_len":40,"payload_len":200,"segments":2,"tunnel":false}"#
        );
        let mut bad = tso_frame();
        bad[6] = 10; // csum_start 10: inside the IPv4 header
        assert_eq!(
            check_frame(&bad, &format, &opts).json,
            r#"{"ok":false,"rule":"V3","error":"V3: csum_start 10 must be at least 20"}"#
        );
        let short = check_frame(&[1, 2, 3], &format, &opts);
        assert!(short.malformed);
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
            r#"{"ok":true,"sum":"4514","checksum":"baeb","verifies":false}"#
        );
        assert!(lines[1].contains("not a hex digit"));
        assert!(lines[2].contains("odd number"));
    }
}
