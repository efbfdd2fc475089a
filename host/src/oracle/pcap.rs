//! pcap files with the raw-IP link type, so that a capture can go through `vnet segment` or
//! `vnet coalesce` and into Wireshark.

use std::io::{self, Read, Write};

/// LINKTYPE_RAW: each record is an IPv4 or IPv6 packet.
pub const LINKTYPE_RAW: u32 = 101;
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Reads every record of a raw-IP pcap file (either byte order, micro- or nanosecond stamps).
pub fn read(mut input: impl Read) -> io::Result<Vec<Vec<u8>>> {
    let mut header = [0u8; 24];
    input.read_exact(&mut header)?;
    let magic = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let swapped = match magic {
        MAGIC_MICROS | MAGIC_NANOS => false,
        m if m.swap_bytes() == MAGIC_MICROS || m.swap_bytes() == MAGIC_NANOS => true,
        m => return Err(invalid(format!("not a pcap file (magic {m:#010x})"))),
    };
    let word = |b: &[u8]| {
        let w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if swapped { w.swap_bytes() } else { w }
    };
    let linktype = word(&header[20..24]);
    if linktype != LINKTYPE_RAW {
        return Err(invalid(format!(
            "link type {linktype}, expected {LINKTYPE_RAW} (raw IP)"
        )));
    }
    let mut records = Vec::new();
    loop {
        let mut rec = [0u8; 16];
        match input.read_exact(&mut rec) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(records),
            Err(e) => return Err(e),
        }
        let len = word(&rec[8..12]) as usize;
        if len > 1 << 20 {
            return Err(invalid(format!(
                "record {} claims {len} bytes",
                records.len()
            )));
        }
        let mut data = vec![0u8; len];
        input.read_exact(&mut data)?;
        records.push(data);
    }
}

/// Writes packets as a raw-IP pcap file (microsecond stamps, all zero: the order is what counts).
pub fn write(mut out: impl Write, packets: &[Vec<u8>]) -> io::Result<()> {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&65535u32.to_le_bytes());
    header.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
    out.write_all(&header)?;
    for p in packets {
        let len = u32::try_from(p.len()).map_err(|_| invalid("packet too large".into()))?;
        out.write_all(&[0; 8])?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(p)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let packets = vec![vec![0x45, 1, 2], vec![], vec![0x60; 70]];
        let mut file = Vec::new();
        write(&mut file, &packets).unwrap();
        assert_eq!(file.len(), 24 + 3 * 16 + 3 + 70);
        assert_eq!(read(file.as_slice()).unwrap(), packets);
        let mut ethernet = file.clone();
        ethernet[20] = 1;
        assert!(
            read(ethernet.as_slice())
                .unwrap_err()
                .to_string()
                .contains("link type 1")
        );
        assert!(read(&b"not a pcap file at all!!"[..]).is_err());
        let mut cut = file.clone();
        cut.truncate(file.len() - 1);
        assert!(read(cut.as_slice()).is_err());
    }
}
