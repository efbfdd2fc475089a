//! Captures in and out, whatever tcpdump or Wireshark wrote: classic pcap ([`super::pcap`], O4)
//! or pcapng ([`super::pcapng`], a buffer of bounded size), each read strictly, link
//! type raw IP or Ethernet (DLT_EN10MB). The oracle works on IP packets: an Ethernet frame is
//! stripped to its IP packet on reading (an 802.1Q/802.1ad tag too), a frame that carries no IP
//! is skipped and counted; on writing, each packet gets an Ethernet header if the link asks
//! (O4, O10).

use std::io::{self, Read, Write};

use super::pcap::{self, LINKTYPE_ETHERNET, LINKTYPE_RAW, MAX_RECORD_BYTES, invalid};
use super::pcapng;
use vnet_core::wire::ETHERNET_HEADER_LEN;

/// A capture file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap (libpcap's savefile).
    Pcap,
    /// pcapng.
    Pcapng,
}

/// What a capture's records hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// LINKTYPE_RAW (101): IPv4 or IPv6 packets.
    Raw,
    /// LINKTYPE_ETHERNET (1, DLT_EN10MB): Ethernet frames.
    Ethernet,
}

impl Link {
    pub(super) fn from_linktype(linktype: u32) -> Option<Link> {
        match linktype {
            LINKTYPE_RAW => Some(Link::Raw),
            LINKTYPE_ETHERNET => Some(Link::Ethernet),
            _ => None,
        }
    }

    pub(super) fn linktype(self) -> u32 {
        match self {
            Link::Raw => LINKTYPE_RAW,
            Link::Ethernet => LINKTYPE_ETHERNET,
        }
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: [u16; 2] = [0x8100, 0x88a8];

/// The IP packet an Ethernet frame carries (after at most two VLAN tags), or `None`.
pub fn strip_ethernet(frame: &[u8]) -> Option<&[u8]> {
    let mut at = ETHERNET_HEADER_LEN - 2;
    for _ in 0..3 {
        let ethertype = u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?);
        match ethertype {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => return frame.get(at + 2..),
            t if ETHERTYPE_VLAN.contains(&t) => at += 4,
            _ => return None,
        }
    }
    None
}

/// `packet` in an Ethernet frame (locally administered addresses, the EtherType from the IP
/// version; a packet that is neither IPv4 nor IPv6 gets IPv4's).
pub fn add_ethernet(packet: &[u8]) -> Vec<u8> {
    let ethertype = match packet.first().map(|b| b >> 4) {
        Some(6) => ETHERTYPE_IPV6,
        _ => ETHERTYPE_IPV4,
    };
    let mut frame = Vec::with_capacity(ETHERNET_HEADER_LEN + packet.len());
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(packet);
    frame
}

/// The IP packets of a pcap or pcapng capture (the format is recognised from its first bytes),
/// one at a time: an iterator of packets, or of the error that ends the capture (naming the
/// record and where it is).
pub struct Reader<R: Read> {
    inner: Inner<R>,
    skipped: usize,
    done: bool,
}

enum Inner<R: Read> {
    Pcap(pcap::Reader<R>, Link),
    Ng(pcapng::Reader<R>),
}

impl<R: Read> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Reader<R> {
    /// Reads the capture's header; fails on a file that is neither pcap nor pcapng, or of a link
    /// type other than raw IP and Ethernet.
    pub fn new(mut input: R) -> io::Result<Reader<io::Chain<io::Cursor<Vec<u8>>, R>>> {
        // The first bytes, read ahead: they tell the format.
        let mut head = vec![0u8; pcapng::MAGIC.len()];
        let got = pcap::read_full(&mut input, &mut head)?;
        head.truncate(got);
        let ng = head == pcapng::MAGIC;
        let input = io::Cursor::new(head).chain(input);
        let inner = if ng {
            Inner::Ng(pcapng::Reader::new(input)?)
        } else {
            let reader = pcap::Reader::new(input)?;
            let link = Link::from_linktype(reader.linktype())
                .ok_or_else(|| invalid(format!("link type {}", reader.linktype())))?;
            Inner::Pcap(reader, link)
        };
        Ok(Reader {
            inner,
            skipped: 0,
            done: false,
        })
    }
}

impl<R: Read> Reader<R> {
    /// Ethernet frames that carried no IP packet, skipped so far.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The next record's frame and its link, `None` at the end.
    fn next_frame(&mut self) -> io::Result<Option<(Vec<u8>, Link)>> {
        match &mut self.inner {
            Inner::Pcap(reader, link) => Ok(reader.next().transpose()?.map(|f| (f, *link))),
            Inner::Ng(reader) => reader.next().transpose(),
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<io::Result<Vec<u8>>> {
        while !self.done {
            let frame = match self.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            match frame {
                (packet, Link::Raw) => return Some(Ok(packet)),
                (frame, Link::Ethernet) => match strip_ethernet(&frame) {
                    Some(packet) => return Some(Ok(packet.to_vec())),
                    None => self.skipped += 1,
                },
            }
        }
        None
    }
}

/// Writes IP packets as a capture of `format` and `link`, record by record (time stamps all
/// zero: the order is what counts). Headers go out with the first record or at
/// [`Writer::finish`].
#[derive(Debug)]
pub struct Writer<W: Write> {
    inner: WriterInner<W>,
    link: Link,
}

#[derive(Debug)]
enum WriterInner<W: Write> {
    Pcap(pcap::Writer<W>),
    Ng { out: W, started: bool },
}

impl<W: Write> Writer<W> {
    /// A writer that has written nothing yet.
    pub fn new(out: W, format: Format, link: Link) -> Writer<W> {
        let inner = match format {
            Format::Pcap => WriterInner::Pcap(pcap::Writer::with_linktype(out, link.linktype())),
            Format::Pcapng => WriterInner::Ng {
                out,
                started: false,
            },
        };
        Writer { inner, link }
    }

    /// Writes one IP packet (in an Ethernet frame if the link is Ethernet); a record longer
    /// than 65535 bytes is refused.
    pub fn write(&mut self, packet: &[u8]) -> io::Result<()> {
        let framed;
        let record = match self.link {
            Link::Raw => packet,
            Link::Ethernet => {
                framed = add_ethernet(packet);
                &framed
            }
        };
        match &mut self.inner {
            WriterInner::Pcap(w) => w.write(record),
            WriterInner::Ng { out, started } => {
                if !*started {
                    pcapng::write_headers(out, self.link)?;
                    *started = true;
                }
                pcapng::write_packet(out, record)
            }
        }
    }

    /// Writes the headers if no record did, and flushes.
    pub fn finish(self) -> io::Result<W> {
        match self.inner {
            WriterInner::Pcap(w) => w.finish(),
            WriterInner::Ng { mut out, started } => {
                if !started {
                    pcapng::write_headers(&mut out, self.link)?;
                }
                out.flush()?;
                Ok(out)
            }
        }
    }
}

/// The law the `capture` fuzz target holds the reader to, on any bytes: it yields packets of
/// at most [`MAX_RECORD_BYTES`], then at most one error and nothing after it; it never panics
/// and never allocates beyond its bounded buffers; the packets it yielded, written as pcapng and
/// as pcap, read back the same (O4, O10).
pub fn reader_law(data: &[u8]) {
    let Ok(reader) = Reader::new(data) else {
        return;
    };
    let mut failed = false;
    let mut packets = Vec::new();
    for packet in reader {
        assert!(!failed, "nothing after an error");
        match packet {
            Ok(p) => {
                assert!(p.len() <= MAX_RECORD_BYTES, "{} bytes", p.len());
                packets.push(p);
            }
            Err(_) => failed = true,
        }
    }
    if packets.iter().any(|p| p.len() > pcap::SNAPLEN as usize) {
        return;
    }
    for format in [Format::Pcapng, Format::Pcap] {
        let mut file = Vec::new();
        write(&mut file, format, Link::Raw, &packets).expect("within the snaplen");
        assert_eq!(
            read(file.as_slice()).expect("read back"),
            packets,
            "{format:?}"
        );
    }
}

/// Every IP packet of a capture (see [`Reader`]).
pub fn read(input: impl Read) -> io::Result<Vec<Vec<u8>>> {
    Reader::new(input)?.collect()
}

/// Writes IP packets as a capture (see [`Writer`]).
pub fn write(out: impl Write, format: Format, link: Link, packets: &[Vec<u8>]) -> io::Result<()> {
    let mut writer = Writer::new(out, format, link);
    for p in packets {
        writer.write(p)?;
    }
    writer.finish().map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets() -> Vec<Vec<u8>> {
        vec![
            vnet_packet::PacketSpec::tcp4(100).build(),
            vnet_packet::PacketSpec::udp4(3).build(),
            vnet_packet::PacketSpec::tcp6(1).build(),
        ]
    }

    /// O10: every format and link reads back as the IP packets written.
    #[test]
    fn o10_pcap_and_pcapng_raw_and_ethernet_round_trip() {
        for format in [Format::Pcap, Format::Pcapng] {
            for link in [Link::Raw, Link::Ethernet] {
                let mut file = Vec::new();
                write(&mut file, format, link, &packets()).unwrap();
                assert_eq!(
                    read(file.as_slice()).unwrap(),
                    packets(),
                    "{format:?} {link:?}"
                );
                let empty = {
                    let mut f = Vec::new();
                    write(&mut f, format, link, &[]).unwrap();
                    f
                };
                assert_eq!(read(empty.as_slice()).unwrap(), Vec::<Vec<u8>>::new());
            }
        }
    }

    #[test]
    fn o10_ethernet_frames_lose_tags_and_non_ip_frames_are_skipped() {
        let ip = vnet_packet::PacketSpec::udp4(5).build();
        let mut tagged = add_ethernet(&ip);
        tagged.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
        assert_eq!(strip_ethernet(&tagged), Some(ip.as_slice()));
        let mut arp = add_ethernet(&ip);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(strip_ethernet(&arp), None);
        assert_eq!(strip_ethernet(&arp[..13]), None);
        let mut file = Vec::new();
        let mut w = pcap::Writer::with_linktype(&mut file, LINKTYPE_ETHERNET);
        for frame in [&arp, &tagged] {
            w.write(frame).unwrap();
        }
        w.finish().unwrap();
        let mut reader = Reader::new(file.as_slice()).unwrap();
        assert_eq!(reader.next().unwrap().unwrap(), ip);
        assert!(reader.next().is_none());
        assert_eq!(reader.skipped(), 1);
    }

    #[test]
    fn o10_broken_pcapng_is_an_error_naming_the_record() {
        let mut file = Vec::new();
        write(&mut file, Format::Pcapng, Link::Raw, &packets()).unwrap();
        // Cut inside the second packet block.
        let cut = &file[..28 + 20 + 32 + 140 + 20];
        let mut reader = Reader::new(cut).unwrap();
        assert!(reader.next().unwrap().is_ok());
        let err = reader.next().unwrap().unwrap_err().to_string();
        assert!(err.starts_with("record 1 at byte "), "{err}");
        assert!(reader.next().is_none());
        // A packet block before any interface description.
        let mut no_idb = file[..28].to_vec();
        no_idb.extend_from_slice(&file[48..]);
        let err = read(no_idb.as_slice()).unwrap_err().to_string();
        assert!(err.contains("interface 0 was not described"), "{err}");
        // Neither pcap nor pcapng.
        assert!(read(&b"GIF89a......................"[..]).is_err());
    }
}
