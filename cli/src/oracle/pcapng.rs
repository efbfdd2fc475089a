//! pcapng (draft-ietf-opsawg-pcapng), read strictly and written, for [`super::capture`]. Reading
//! is one block at a time into a buffer of bounded size (O10): the section header, interface
//! descriptions and the two packet blocks (enhanced and simple) are read, every other block is
//! passed over. A block whose length is not a multiple of 4, too short for its type, beyond
//! [`MAX_BLOCK_BYTES`], cut short or whose two lengths differ ends the capture with an error
//! naming the record (numbered from 0) and the block's byte offset, as [`super::pcap`] does.
//! Options are not read.

use std::io::{self, Read, Write};

use super::capture::Link;
use super::pcap::{
    MAX_RECORD_BYTES, SNAPLEN, at_record, half, invalid, read_full, until_error, within_snaplen,
    word,
};

/// The first four bytes of a pcapng file: a section header's block type (a palindrome, the same
/// in both byte orders).
pub const MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const SECTION_HEADER: u32 = 0x0a0d_0d0a;
const INTERFACE_DESCRIPTION: u32 = 1;
const SIMPLE_PACKET: u32 = 3;
const ENHANCED_PACKET: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// A block's type and length before its body, the length again after it.
const BLOCK_FRAME: usize = 12;
/// The largest block read: one packet of [`MAX_RECORD_BYTES`] with its headers and options. A
/// larger block is an error, never a larger allocation.
pub const MAX_BLOCK_BYTES: usize = MAX_RECORD_BYTES + 64 * 1024;
/// The most interface descriptions a section may hold.
const MAX_INTERFACES: usize = 1024;

/// The fewest body bytes a block of `kind` has: its fixed fields.
fn min_body(kind: u32) -> usize {
    match kind {
        SECTION_HEADER => 16,
        INTERFACE_DESCRIPTION => 8,
        SIMPLE_PACKET => 4,
        ENHANCED_PACKET => 20,
        _ => 0,
    }
}

/// An interface a section described: its link type and snaplen (0: none).
#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u16,
    snaplen: u32,
}

/// The packets of a pcapng capture, each with its interface's link, one at a time: an iterator
/// of packets, or of the error that ends the capture.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    /// The current section is big-endian.
    swapped: bool,
    interfaces: Vec<Interface>,
    body: Vec<u8>,
    /// Packets read so far: the number of the next record.
    record: usize,
    /// The next block's byte offset.
    offset: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// Reads the first block, which must be a section header.
    pub fn new(input: R) -> io::Result<Reader<R>> {
        let mut reader = Reader {
            input,
            swapped: false,
            interfaces: Vec::new(),
            body: Vec::new(),
            record: 0,
            offset: 0,
            done: false,
        };
        match reader.next_block() {
            Ok(Some(SECTION_HEADER)) => Ok(reader),
            Ok(_) => Err(invalid("not a pcapng file: no section header".into())),
            Err(e) => Err(invalid(format!("not a pcapng file: {e}"))),
        }
    }

    /// Reads the next block into `body` and returns its type (`None` at the end of the input);
    /// takes note of section headers and interface descriptions.
    fn next_block(&mut self) -> io::Result<Option<u32>> {
        let name = at_record(self.record, self.offset);
        let mut head = [0u8; 8];
        match read_full(&mut self.input, &mut head)? {
            0 => return Ok(None),
            8 => {}
            got => return Err(name(format!("block header cut short ({got} of 8 bytes)"))),
        }
        let mut order = [0u8; 4];
        if word(&head, 0, false) == SECTION_HEADER {
            // The byte-order magic says how to read the length before it.
            if read_full(&mut self.input, &mut order)? < order.len() {
                return Err(name("section header cut short".into()));
            }
            self.swapped = match word(&order, 0, false) {
                BYTE_ORDER_MAGIC => false,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
                m => return Err(name(format!("byte-order magic {m:#010x}"))),
            };
        }
        let kind = word(&head, 0, self.swapped);
        let len = word(&head, 4, self.swapped) as usize;
        if !len.is_multiple_of(4) {
            return Err(name(format!("block length {len}, not a multiple of 4")));
        }
        if len < BLOCK_FRAME + min_body(kind) {
            return Err(name(format!(
                "block length {len}, too short for a block of type {kind:#x}"
            )));
        }
        if len > MAX_BLOCK_BYTES {
            return Err(name(format!(
                "a block of {len} bytes, more than the limit of {MAX_BLOCK_BYTES}"
            )));
        }
        // The body and the length after it, read at once; a section header's byte-order magic
        // is in already.
        self.body.clear();
        self.body.resize(len - head.len(), 0);
        let read_from = if kind == SECTION_HEADER {
            self.body[..4].copy_from_slice(&order);
            4
        } else {
            0
        };
        let want = self.body.len() - read_from;
        let got = read_full(&mut self.input, &mut self.body[read_from..])?;
        if got < want {
            return Err(name(format!(
                "block cut short ({} of {len} bytes)",
                head.len() + read_from + got
            )));
        }
        let len_after = word(&self.body, len - BLOCK_FRAME, self.swapped) as usize;
        self.body.truncate(len - BLOCK_FRAME);
        if len_after != len {
            return Err(name(format!(
                "block lengths differ ({len} before, {len_after} after)"
            )));
        }
        match kind {
            SECTION_HEADER => {
                let major = half(&self.body, 4, self.swapped);
                if major != 1 {
                    return Err(name(format!("section header version {major}, expected 1")));
                }
                // Interface ids restart with each section.
                self.interfaces.clear();
            }
            INTERFACE_DESCRIPTION => {
                if self.interfaces.len() >= MAX_INTERFACES {
                    return Err(name(format!("more than {MAX_INTERFACES} interfaces")));
                }
                let linktype = half(&self.body, 0, self.swapped);
                self.interfaces.push(Interface {
                    linktype,
                    snaplen: word(&self.body, 4, self.swapped),
                });
            }
            _ => {}
        }
        self.offset += len as u64;
        Ok(Some(kind))
    }

    /// The next packet and its link, other blocks passed over; `None` at the end.
    fn next_packet(&mut self) -> io::Result<Option<(Vec<u8>, Link)>> {
        loop {
            let offset = self.offset;
            let Some(kind) = self.next_block()? else {
                return Ok(None);
            };
            let name = at_record(self.record, offset);
            let (interface, data, caplen, origlen) = match kind {
                ENHANCED_PACKET => {
                    let id = word(&self.body, 0, self.swapped) as usize;
                    let caplen = word(&self.body, 12, self.swapped);
                    let origlen = word(&self.body, 16, self.swapped);
                    (id, self.body.get(20..).unwrap_or_default(), caplen, origlen)
                }
                SIMPLE_PACKET => {
                    // Captured: the original length, cut at interface 0's snaplen.
                    let origlen = word(&self.body, 0, self.swapped);
                    let snaplen = self.interfaces.first().map_or(0, |i| i.snaplen);
                    let caplen = if snaplen == 0 {
                        origlen
                    } else {
                        origlen.min(snaplen)
                    };
                    (0, self.body.get(4..).unwrap_or_default(), caplen, origlen)
                }
                _ => continue,
            };
            let Interface { linktype, snaplen } = *self
                .interfaces
                .get(interface)
                .ok_or_else(|| name(format!("interface {interface} was not described")))?;
            let link = Link::from_linktype(linktype.into()).ok_or_else(|| {
                name(format!(
                    "interface {interface}: link type {linktype}, neither {} (raw IP) nor {} (Ethernet)",
                    Link::Raw.linktype(),
                    Link::Ethernet.linktype()
                ))
            })?;
            let len = caplen as usize;
            if len > MAX_RECORD_BYTES {
                return Err(name(format!(
                    "{len} bytes, more than the limit of {MAX_RECORD_BYTES}"
                )));
            }
            if caplen > origlen {
                return Err(name(format!(
                    "{caplen} bytes captured, more than its original length {origlen}"
                )));
            }
            if snaplen != 0 && caplen > snaplen {
                return Err(name(format!(
                    "{caplen} bytes captured, more than the snaplen {snaplen}"
                )));
            }
            let data = data
                .get(..len)
                .ok_or_else(|| name(format!("{len} bytes captured, the block holds fewer")))?;
            self.record += 1;
            return Ok(Some((data.to_vec(), link)));
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = io::Result<(Vec<u8>, Link)>;

    fn next(&mut self) -> Option<io::Result<(Vec<u8>, Link)>> {
        if self.done {
            return None;
        }
        let read = self.next_packet();
        until_error(&mut self.done, read)
    }
}

/// Writes a section header (little-endian, version 1.0, section length unknown) and one
/// interface description of `link` with snaplen [`SNAPLEN`].
pub fn write_headers(out: &mut impl Write, link: Link) -> io::Result<()> {
    let mut headers = Vec::with_capacity(48);
    for word in [SECTION_HEADER, 28, BYTE_ORDER_MAGIC, 1] {
        headers.extend_from_slice(&word.to_le_bytes());
    }
    headers.extend_from_slice(&u64::MAX.to_le_bytes());
    headers.extend_from_slice(&28u32.to_le_bytes());
    for word in [INTERFACE_DESCRIPTION, 20, link.linktype(), SNAPLEN, 20] {
        headers.extend_from_slice(&word.to_le_bytes());
    }
    out.write_all(&headers)
}

/// Writes one enhanced packet block on interface 0 (time stamp zero); a record longer than
/// [`SNAPLEN`] is refused.
pub fn write_packet(out: &mut impl Write, record: &[u8]) -> io::Result<()> {
    let len = within_snaplen(record.len()).ok_or_else(|| {
        invalid(format!(
            "{} bytes, more than the snaplen {SNAPLEN}",
            record.len()
        ))
    })?;
    let padded = record.len().next_multiple_of(4);
    let total = (BLOCK_FRAME + min_body(ENHANCED_PACKET) + padded) as u32;
    let mut block = Vec::with_capacity(total as usize);
    for word in [ENHANCED_PACKET, total, 0, 0, 0, len, len] {
        block.extend_from_slice(&word.to_le_bytes());
    }
    block.extend_from_slice(record);
    block.resize(total as usize - 4, 0);
    block.extend_from_slice(&total.to_le_bytes());
    out.write_all(&block)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of `kind` around `body` (padded to 4 bytes), in either byte order.
    fn block(kind: u32, body: &[u8], big: bool) -> Vec<u8> {
        let word = |w: u32| {
            if big {
                w.to_be_bytes()
            } else {
                w.to_le_bytes()
            }
        };
        let total = (BLOCK_FRAME + body.len().next_multiple_of(4)) as u32;
        let mut b = word(kind).to_vec();
        b.extend_from_slice(&word(total));
        b.extend_from_slice(body);
        b.resize(total as usize - 4, 0);
        b.extend_from_slice(&word(total));
        b
    }

    fn section(big: bool) -> Vec<u8> {
        let mut body = if big {
            BYTE_ORDER_MAGIC.to_be_bytes().to_vec()
        } else {
            BYTE_ORDER_MAGIC.to_le_bytes().to_vec()
        };
        body.extend_from_slice(&if big { [0, 1, 0, 0] } else { [1, 0, 0, 0] });
        body.extend_from_slice(&[0xff; 8]);
        block(SECTION_HEADER, &body, big)
    }

    fn interface(linktype: u16, snaplen: u32, big: bool) -> Vec<u8> {
        let mut body = Vec::new();
        if big {
            body.extend_from_slice(&linktype.to_be_bytes());
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&snaplen.to_be_bytes());
        } else {
            body.extend_from_slice(&linktype.to_le_bytes());
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&snaplen.to_le_bytes());
        }
        block(INTERFACE_DESCRIPTION, &body, big)
    }

    fn read(file: &[u8]) -> io::Result<Vec<(Vec<u8>, Link)>> {
        Reader::new(file)?.collect()
    }

    fn error(file: &[u8]) -> String {
        read(file).unwrap_err().to_string()
    }

    /// O10: a big-endian section, a simple packet block cut at the snaplen, an unknown block
    /// passed over, and a second section whose interfaces start again from 0.
    #[test]
    fn o10_both_byte_orders_simple_packets_and_sections() {
        let mut file = section(true);
        file.extend(interface(101, 3, true));
        let mut spb = 5u32.to_be_bytes().to_vec();
        spb.extend_from_slice(&[0x45, 1, 2, 3, 4]);
        file.extend(block(SIMPLE_PACKET, &spb, true));
        file.extend(block(0x8000_0001, &[7; 6], true));
        file.extend(section(false));
        file.extend(interface(1, 0, false));
        let mut epb = Vec::new();
        for w in [0u32, 0, 0, 2, 2] {
            epb.extend_from_slice(&w.to_le_bytes());
        }
        epb.extend_from_slice(&[0x60, 9]);
        file.extend(block(ENHANCED_PACKET, &epb, false));
        assert_eq!(
            read(&file).unwrap(),
            vec![
                (vec![0x45, 1, 2], Link::Raw),
                (vec![0x60, 9], Link::Ethernet)
            ]
        );
    }

    /// O10: every malformed block is an error naming the record and the block's offset, none a
    /// panic. (Lengths below 12 once reached a subtraction that overflowed: the `capture` fuzz
    /// target's regression, a process information block of length 6.)
    #[test]
    fn o10_malformed_blocks_are_errors_naming_the_record() {
        let start = [section(false), interface(101, 0, false)].concat();
        let at = start.len();
        let with = |tail: &[u8]| [&start[..], tail].concat();
        let mut short = block(0x8000_0001, &[], false);
        short[4..8].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(
            error(&with(&short)),
            format!(
                "record 0 at byte {at}: block length 8, too short for a block of type 0x80000001"
            )
        );
        let mut odd = block(0x8000_0001, &[0; 8], false);
        odd[4..8].copy_from_slice(&19u32.to_le_bytes());
        assert!(error(&with(&odd)).ends_with("block length 19, not a multiple of 4"));
        let mut differ = block(0x8000_0001, &[0; 8], false);
        differ[16..20].copy_from_slice(&24u32.to_le_bytes());
        assert!(error(&with(&differ)).ends_with("block lengths differ (20 before, 24 after)"));
        let mut huge = block(0x8000_0001, &[0; 8], false);
        huge[4..8].copy_from_slice(&u32::MAX.wrapping_sub(3).to_le_bytes());
        assert!(error(&with(&huge)).contains("more than the limit of"));
        let cut = block(0x8000_0001, &[0; 8], false);
        assert!(error(&with(&cut[..15])).ends_with("block cut short (15 of 20 bytes)"));
        assert!(error(&with(&cut[..5])).ends_with("block header cut short (5 of 8 bytes)"));
        let mut epb = Vec::new();
        for w in [0u32, 0, 0, 4, 3] {
            epb.extend_from_slice(&w.to_le_bytes());
        }
        epb.extend_from_slice(&[0; 4]);
        assert!(
            error(&with(&block(ENHANCED_PACKET, &epb, false)))
                .ends_with("4 bytes captured, more than its original length 3")
        );
        epb[16..20].copy_from_slice(&9u32.to_le_bytes());
        epb[12..16].copy_from_slice(&9u32.to_le_bytes());
        assert!(
            error(&with(&block(ENHANCED_PACKET, &epb, false)))
                .ends_with("9 bytes captured, the block holds fewer")
        );
        let wifi = [section(false), interface(105, 0, false)].concat();
        let spb = block(SIMPLE_PACKET, &[0; 4], false);
        assert!(error(&[&wifi[..], &spb].concat()).contains("link type 105"));
        let mut v2 = section(false);
        v2[12] = 2;
        assert!(error(&v2).contains("section header version 2"));
        let mut order = section(false);
        order[8] = 0;
        assert!(error(&order).contains("byte-order magic"));
        assert!(error(&block(1, &[0; 8], false)).contains("no section header"));
    }
}
