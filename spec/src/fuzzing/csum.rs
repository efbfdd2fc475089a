//! `csum`: the fast checksum paths against the plain RFC 1071 loop.

use vnet_core::csum::{self, Checksum, Summer};

/// RFC 1071's loop, one big-endian 16-bit word at a time, folding as it goes: obvious, slow, and
/// the reference here. It is vnet-packet's reference checksum, the one such loop in the workspace.
pub use vnet_packet::checksum::sum as reference_sum;

/// Ones'-complement equality: 0x0000 and 0xFFFF are the two zeros.
fn same_ones_complement(a: u16, b: u16) -> bool {
    a == b || (a, b) == (0, 0xffff) || (a, b) == (0xffff, 0)
}

/// The first two bytes choose a cut; the rest is the data. Asserts: `sum` equals the reference;
/// `copy_and_sum` copies and equals it, and refuses mismatched lengths; the [`Checksum`]
/// accumulator and `combine_at` give the whole's sum for the two pieces at the cut (any parity);
/// a `finish`ed sum appended to even-length data verifies; and RFC 1624's `update` after changing
/// one word agrees with summing afresh.
pub fn csum(data: &[u8]) {
    let (cut, data) = cut_and_data(data);
    let whole = reference_sum(data);
    assert_eq!(csum::sum(data), whole, "sum == RFC 1071 loop");

    let mut copy = vec![0u8; data.len()];
    assert_eq!(csum::copy_and_sum(&mut copy, data), Some(whole));
    assert_eq!(copy, data, "copy_and_sum copies");
    let mut longer = vec![0u8; data.len() + 1];
    assert_eq!(csum::copy_and_sum(&mut longer, data), None);
    assert!(
        longer.iter().all(|&b| b == 0),
        "nothing copied on a length mismatch"
    );

    let (a, b) = data.split_at(cut);
    let mut running = Checksum::new();
    running.add(a);
    running.add(b);
    assert_eq!(running.sum(), whole, "Checksum split at {cut}");
    assert_eq!(running.finish(), csum::finish(whole));
    assert_eq!(
        csum::combine_at(csum::sum(a), csum::sum(b), cut),
        whole,
        "combine_at at {cut}"
    );
    if cut % 2 == 0 {
        let mut by_sums = Checksum::from_sum(csum::sum(a));
        by_sums.add_sum(csum::sum(b), b.len());
        assert_eq!(by_sums.sum(), whole, "from_sum + add_sum at even {cut}");
    }

    // Storing the complement makes even-length data verify (C1).
    let even = &data[..data.len() & !1];
    let mut stored = even.to_vec();
    stored.extend_from_slice(&csum::finish(csum::sum(even)).to_be_bytes());
    assert!(csum::verify(&stored), "data + finish(sum) verifies");

    // RFC 1624: change the word at the (even) cut and update the stored checksum incrementally.
    let at = cut & !1;
    if let Some(&[hi, lo]) = even.get(at..at + 2) {
        let old = u16::from_be_bytes([hi, lo]);
        let new = old.rotate_left(5) ^ 0xa5a5;
        let check = csum::finish(csum::sum(even));
        let mut changed = even.to_vec();
        changed[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let updated = csum::update(check, old, new);
        assert!(
            same_ones_complement(updated, csum::finish(csum::sum(&changed))),
            "update({check:#06x}, {old:#06x}, {new:#06x}) = {updated:#06x}"
        );
    }
}

/// The `csum` target's check of a vector build, one of the sums the CPU can run that the target
/// passes in (vnet-host's AVX2 and AVX-512): its sum and its fused copy equal the RFC 1071 loop on
/// the data and on the data from the cut, so that the start takes every alignment.
pub fn csum_with<S: Summer>(summer: S, data: &[u8]) {
    let (cut, data) = cut_and_data(data);
    for data in [data, &data[cut..]] {
        let whole = reference_sum(data);
        assert_eq!(summer.sum(data), whole, "vector sum == RFC 1071 loop");
        let mut copy = vec![0u8; data.len()];
        assert_eq!(summer.copy_and_sum(&mut copy, data), Some(whole));
        assert_eq!(copy, data, "vector copy_and_sum copies");
    }
}

/// The first two bytes of a `csum` input choose a cut in the rest, the data.
fn cut_and_data(input: &[u8]) -> (usize, &[u8]) {
    match input.split_first_chunk::<2>() {
        Some((&cut, rest)) => (
            usize::from(u16::from_le_bytes(cut)) % (rest.len() + 1),
            rest,
        ),
        None => (0, input),
    }
}
