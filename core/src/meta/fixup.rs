//! The software fix-ups a backend applies before a frame leaves (M9, M10).

use super::*;

/// Fills in the IPv4 header of `frame` (which starts `l2_len` bytes in) for a device that will not
/// (M9): the total length becomes `frame.len() - l2_len` (0 if that does not fit in 16 bits, as a
/// segmentation request's super-packet may not), then the header checksum is zeroed and
/// recomputed over the IHL-long header (20..=60 bytes, options included). Run it whenever
/// [`TxFlags::OFFLOAD_IP_HEADER_CHECKSUM`] is set on an IPv4 packet, segmented ones included.
/// Returns the checksum written.
pub fn fixup_ipv4_header_checksum(frame: &mut [u8], l2_len: usize) -> Result<u16, MetaError> {
    let have = frame.len();
    let ip = ip_part(frame, l2_len, IPV4_MIN_HEADER_LEN, "M9")?;
    let total = ip.len();
    let mut packet = Ipv4Packet::new_unchecked(ip);
    version_is(packet.version(), 4, "M9")?;
    if packet.ihl() < 5 {
        return Err(field_error(
            "M9",
            Field::Ihl,
            packet.ihl().into(),
            Bound::AtLeast(5),
        ));
    }
    if packet.header_len() > total {
        return Err(MetaError::Frame {
            rule: "M9",
            problem: Problem::Truncated {
                need: l2_len + packet.header_len(),
                have,
            },
        });
    }
    packet.set_total_len(u16::try_from(total).unwrap_or(0));
    packet.set_checksum(0);
    let check = csum::finish(csum::sum(packet.header()));
    packet.set_checksum(check);
    Ok(check)
}

/// Fills in the IPv6 payload length of `frame` (which starts `l2_len` bytes in) as
/// `frame.len() - l2_len - 40`, or 0 if that does not fit in 16 bits (M10). Run it for segmented
/// IPv6 packets whose sender left the field 0. Returns the length written.
pub fn fixup_ipv6_payload_length(frame: &mut [u8], l2_len: usize) -> Result<u16, MetaError> {
    let ip = ip_part(frame, l2_len, IPV6_HEADER_LEN, "M10")?;
    let payload = u16::try_from(ip.len() - IPV6_HEADER_LEN).unwrap_or(0);
    let mut packet = Ipv6Packet::new_unchecked(ip);
    version_is(packet.version(), 6, "M10")?;
    packet.set_payload_len(payload);
    Ok(payload)
}

/// The bytes of `frame` from `l2_len` on, if they hold at least `min` (the IP header's fixed
/// part); else `rule`'s truncation error, counted over the whole frame.
fn ip_part<'a>(
    frame: &'a mut [u8],
    l2_len: usize,
    min: usize,
    rule: &'static str,
) -> Result<&'a mut [u8], MetaError> {
    let have = frame.len();
    match frame.get_mut(l2_len..) {
        Some(ip) if ip.len() >= min => Ok(ip),
        _ => Err(MetaError::Frame {
            rule,
            problem: Problem::Truncated {
                need: l2_len.saturating_add(min),
                have,
            },
        }),
    }
}

/// The IP version nibble `found` is `expected`; else `rule`'s error.
fn version_is(found: u8, expected: u8, rule: &'static str) -> Result<(), MetaError> {
    if found == expected {
        Ok(())
    } else {
        Err(MetaError::Frame {
            rule,
            problem: Problem::WrongIpVersion { expected, found },
        })
    }
}
