//! Classic pcap files with the raw-IP or Ethernet link type, so that a capture can go through
//! `vnet segment` or `vnet coalesce` and into Wireshark ([`super::capture`] adds pcapng and
//! takes the Ethernet header off and on). Reading is strict and one record at a time (O4): a record
//! header cut short, a record longer than the file's snaplen, than its own original length or
//! than [`MAX_RECORD_BYTES`] is an error naming the record (numbered from 0) and its byte offset;
//! writing is one record at a time too ([`Writer`]).

use std::io::{self, Read, Write};

/// LINKTYPE_RAW: each record is an IPv4 or IPv6 packet.
pub const LINKTYPE_RAW: u32 = 101;
/// LINKTYPE_ETHERNET (DLT_EN10MB): each record is an Ethernet frame.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// The largest record read, whatever the file's snaplen says.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// The snaplen [`Writer`] writes: no record it writes is longer.
pub const SNAPLEN: u32 = 65535;
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const FILE_HEADER_LEN: u64 = 24;
const RECORD_HEADER_LEN: usize = 16;

/// An error in a capture's bytes.
pub(super) fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// The error of record `record` (from 0) whose bytes start at `offset` (O4, O10).
pub(super) fn at_record(record: usize, offset: u64) -> impl Fn(String) -> io::Error {
    move |what| invalid(format!("record {record} at byte {offset}: {what}"))
}

/// Reads as much of `buf` as the input has; returns how many bytes that was (short only at the
/// end of input).
pub(super) fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The records of a pcap file (either byte order, micro- or nanosecond stamps; raw IP or
/// Ethernet), one at a time: an iterator of records, or of the error that ends the file.
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    linktype: u32,
    swapped: bool,
    snaplen: u32,
    record: usize,
    offset: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the file header.
    pub fn new(mut input: R) -> io::Result<Reader<R>> {
        let mut header = [0u8; 24];
        let got = read_full(&mut input, &mut header)?;
        if got < header.len() {
            return Err(invalid(format!(
                "not a pcap file: {got} bytes, a file header is 24"
            )));
        }
        let [m0, m1, m2, m3, ..] = header;
        let magic = u32::from_le_bytes([m0, m1, m2, m3]);
        let swapped = match magic {
            MAGIC_MICROS | MAGIC_NANOS => false,
            m if m.swap_bytes() == MAGIC_MICROS || m.swap_bytes() == MAGIC_NANOS => true,
            m => return Err(invalid(format!("not a pcap file (magic {m:#010x})"))),
        };
        let word = |at: usize| word(&header, at, swapped);
        let (snaplen, linktype) = (word(16), word(20));
        if linktype != LINKTYPE_RAW && linktype != LINKTYPE_ETHERNET {
            return Err(invalid(format!(
                "link type {linktype}, expected {LINKTYPE_RAW} (raw IP) or {LINKTYPE_ETHERNET} (Ethernet)"
            )));
        }
        Ok(Reader {
            input,
            linktype,
            swapped,
            snaplen,
            record: 0,
            offset: FILE_HEADER_LEN,
            done: false,
        })
    }

    /// The file's link type: [`LINKTYPE_RAW`] or [`LINKTYPE_ETHERNET`].
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// The number of the next record (from 0) and its byte offset.
    pub fn position(&self) -> (usize, u64) {
        (self.record, self.offset)
    }

    fn next_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        let name = at_record(self.record, self.offset);
        let mut rec = [0u8; RECORD_HEADER_LEN];
        match read_full(&mut self.input, &mut rec)? {
            0 => return Ok(None),
            RECORD_HEADER_LEN => {}
            got => {
                return Err(name(format!(
                    "record header cut short ({got} of {RECORD_HEADER_LEN} bytes)"
                )));
            }
        }
        let caplen = word(&rec, 8, self.swapped);
        let orig_len = word(&rec, 12, self.swapped);
        if self.snaplen != 0 && caplen > self.snaplen {
            return Err(name(format!(
                "{caplen} bytes captured, more than the snaplen {}",
                self.snaplen
            )));
        }
        if caplen > orig_len {
            return Err(name(format!(
                "{caplen} bytes captured, more than its original length {orig_len}"
            )));
        }
        let len = caplen as usize;
        if len > MAX_RECORD_BYTES {
            return Err(name(format!(
                "{len} bytes, more than the limit of {MAX_RECORD_BYTES}"
            )));
        }
        let mut data = vec![0u8; len];
        let got = read_full(&mut self.input, &mut data)?;
        if got < len {
            return Err(name(format!("data cut short ({got} of {len} bytes)")));
        }
        self.record += 1;
        self.offset += (RECORD_HEADER_LEN + len) as u64;
        Ok(Some(data))
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<io::Result<Vec<u8>>> {
        if self.done {
            return None;
        }
        let read = self.next_record();
        until_error(&mut self.done, read)
    }
}

/// What an iterator over a file's records yields for one `read`: the record, or the error that
/// ends the file. `done` is set at the end and at an error, so that nothing follows either.
pub(super) fn until_error<T>(
    done: &mut bool,
    read: io::Result<Option<T>>,
) -> Option<io::Result<T>> {
    let next = read.transpose();
    *done = !matches!(next, Some(Ok(_)));
    next
}

/// The `N`-byte field at `at` (zeros where `bytes` ends), little-endian unless `swapped`.
fn field<const N: usize>(bytes: &[u8], at: usize, swapped: bool) -> [u8; N] {
    let mut f = [0u8; N];
    if let Some(b) = bytes.get(at..at.saturating_add(N)) {
        f.copy_from_slice(b);
    }
    if swapped {
        f.reverse();
    }
    f
}

/// The 32-bit word at `at` (zero where `bytes` ends), little-endian unless `swapped`.
pub(super) fn word(bytes: &[u8], at: usize, swapped: bool) -> u32 {
    u32::from_le_bytes(field(bytes, at, swapped))
}

/// The 16-bit word at `at`, as [`word`].
pub(super) fn half(bytes: &[u8], at: usize, swapped: bool) -> u16 {
    u16::from_le_bytes(field(bytes, at, swapped))
}

/// `len` as a record length field, if a writer's [`SNAPLEN`] allows it.
pub(super) fn within_snaplen(len: usize) -> Option<u32> {
    u32::try_from(len).ok().filter(|&l| l <= SNAPLEN)
}

/// Reads every record of a raw-IP pcap file (see [`Reader`]).
pub fn read(input: impl Read) -> io::Result<Vec<Vec<u8>>> {
    Reader::new(input)?.collect()
}

/// Writes a pcap file record by record (microsecond stamps, all zero: the order is what
/// counts). The file header goes out with the first record, or at [`Writer::finish`].
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    linktype: u32,
    started: bool,
    records: usize,
}

impl<W: Write> Writer<W> {
    /// A raw-IP writer that has written nothing yet.
    pub fn new(out: W) -> Writer<W> {
        Writer::with_linktype(out, LINKTYPE_RAW)
    }

    /// A writer of records of `linktype` that has written nothing yet.
    pub fn with_linktype(out: W, linktype: u32) -> Writer<W> {
        Writer {
            out,
            linktype,
            started: false,
            records: 0,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            let mut header = Vec::with_capacity(24);
            header.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
            header.extend_from_slice(&2u16.to_le_bytes());
            header.extend_from_slice(&4u16.to_le_bytes());
            header.extend_from_slice(&[0; 8]);
            header.extend_from_slice(&SNAPLEN.to_le_bytes());
            header.extend_from_slice(&self.linktype.to_le_bytes());
            self.out.write_all(&header)?;
            self.started = true;
        }
        Ok(())
    }

    /// Writes one record; a packet longer than [`SNAPLEN`] is refused.
    pub fn write(&mut self, packet: &[u8]) -> io::Result<()> {
        self.start()?;
        let len = within_snaplen(packet.len()).ok_or_else(|| {
            invalid(format!(
                "record {}: {} bytes, more than the snaplen {SNAPLEN}",
                self.records,
                packet.len()
            ))
        })?;
        self.out.write_all(&[0; 8])?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(packet)?;
        self.records += 1;
        Ok(())
    }

    /// Writes the file header if no record did, and flushes.
    pub fn finish(mut self) -> io::Result<W> {
        self.start()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes packets as a raw-IP pcap file (see [`Writer`]).
pub fn write(out: impl Write, packets: &[Vec<u8>]) -> io::Result<()> {
    let mut writer = Writer::new(out);
    for p in packets {
        writer.write(p)?;
    }
    writer.finish().map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(file: &[u8]) -> String {
        read(file).unwrap_err().to_string()
    }

    #[test]
    fn round_trip_and_errors() {
        let packets = vec![vec![0x45, 1, 2], vec![], vec![0x60; 70]];
        let mut file = Vec::new();
        write(&mut file, &packets).unwrap();
        assert_eq!(file.len(), 24 + 3 * 16 + 3 + 70);
        assert_eq!(read(file.as_slice()).unwrap(), packets);
        let mut wifi = file.clone();
        wifi[20] = 105;
        assert!(error(&wifi).contains("link type 105"));
        let mut ethernet = file.clone();
        ethernet[20] = 1;
        assert_eq!(
            Reader::new(&ethernet[..]).unwrap().linktype(),
            LINKTYPE_ETHERNET
        );
        assert!(read(&b"not a pcap file at all!!"[..]).is_err());
        assert!(error(&file[..10]).contains("24"));
        let mut cut = file.clone();
        cut.truncate(file.len() - 1);
        assert_eq!(
            error(&cut),
            "record 2 at byte 59: data cut short (69 of 70 bytes)"
        );
    }

    #[test]
    fn o4_strict_records_name_their_number_and_offset() {
        let mut file = Vec::new();
        write(&mut file, &[vec![0x45; 4], vec![0x45; 4]]).unwrap();
        // A record header cut short is not the end of the file.
        assert_eq!(
            error(&file[..24 + 20 + 5]),
            "record 1 at byte 44: record header cut short (5 of 16 bytes)"
        );
        // caplen beyond orig_len.
        let mut longer = file.clone();
        longer[44 + 12] = 3;
        assert_eq!(
            error(&longer),
            "record 1 at byte 44: 4 bytes captured, more than its original length 3"
        );
        // caplen beyond snaplen.
        let mut snap = file.clone();
        snap[16..20].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            error(&snap),
            "record 0 at byte 24: 4 bytes captured, more than the snaplen 3"
        );
        // The records before the error are read; the iterator ends after it.
        let mut reader = Reader::new(&longer[..]).unwrap();
        assert_eq!(reader.next().unwrap().unwrap(), vec![0x45; 4]);
        assert!(reader.next().unwrap().is_err());
        assert!(reader.next().is_none());
        // A writer refuses what its snaplen cannot say.
        assert!(write(Vec::new(), &[vec![0; 65536]]).is_err());
    }
}
