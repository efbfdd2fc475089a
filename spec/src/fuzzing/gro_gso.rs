//! `gro_gso`: law L5 on trains from arbitrary parameters: what GRO merges under the Linux policy,
//! check + GSO splits back into exactly the packets it came from, in sequence order.

use vnet_core::gro::{GroOptions, Policy};
use vnet_core::hdr::GsoType;

use super::gro::FlowParams;
use crate::laws::gro::{self as laws, Coalesce, CoreGro, CoreGroTable};
use crate::laws::hold;
use crate::model::gro::ReferenceGro;
use crate::strategy::train::flow_packets;

/// The most segments per flow.
pub const MAX_SEGMENTS: usize = 24;

/// One input of the `gro_gso` target: one to four flows, each with its segments' perturbation
/// codes, and the order in which the flows' segments arrive.
///
/// Its byte form is fixed: option bits (bit 0: coalesce UDP; bits 1-3: the flow table's size - 1; bits
/// 4-5: the number of flows - 1), then per flow its [`FlowParams`] (7 bytes) and its segment
/// count (one byte, modulo [`MAX_SEGMENTS`] + 1), then the perturbation codes of every flow's
/// segments in turn (one byte each, read as in [`super::gro::perturb`]; missing ones are 0), then
/// the schedule to the end: each byte picks the flow (modulo the flows with segments left) whose
/// next segment arrives; when it runs out, the flows take turns. [`Arbitrary`] reads exactly that
/// form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroGsoInput {
    /// Coalesce UDP too.
    pub udp: bool,
    /// The flow table's size, the most flows held at once (1..=8; `Gro<FLOWS>`, G7).
    pub max_flows: u8,
    /// Each flow's parameters and perturbation codes (one per segment).
    pub flows: Vec<(FlowParams, Vec<u8>)>,
    /// The arrival schedule.
    pub schedule: Vec<u8>,
}

impl GroGsoInput {
    /// Decodes the byte form; `None` if it is empty.
    pub fn from_bytes(data: &[u8]) -> Option<GroGsoInput> {
        let (&bits, mut rest) = data.split_first()?;
        let n_flows = usize::from(bits >> 4 & 3) + 1;
        let mut heads = Vec::new();
        for _ in 0..n_flows {
            let mut chunk = [0u8; 8];
            let take = rest.len().min(8);
            chunk[..take].copy_from_slice(&rest[..take]);
            rest = &rest[take..];
            let params = FlowParams::read(chunk[..7].try_into().ok()?);
            heads.push((params, usize::from(chunk[7]) % (MAX_SEGMENTS + 1)));
        }
        let mut flows = Vec::new();
        for (params, count) in heads {
            let take = rest.len().min(count);
            let mut codes = rest[..take].to_vec();
            codes.resize(count, 0);
            rest = &rest[take..];
            flows.push((params, codes));
        }
        Some(GroGsoInput {
            udp: bits & 1 != 0,
            max_flows: (bits >> 1 & 7) + 1,
            flows,
            schedule: rest.to_vec(),
        })
    }

    /// The byte form that [`from_bytes`](Self::from_bytes) decodes (at most four flows).
    pub fn to_bytes(&self) -> Vec<u8> {
        let flows = &self.flows[..self.flows.len().clamp(1, 4)];
        let mut out = vec![
            u8::from(self.udp)
                | (self.max_flows.clamp(1, 8) - 1) << 1
                | (flows.len() as u8 - 1) << 4,
        ];
        for (params, codes) in flows {
            params.write(&mut out);
            out.push(codes.len() as u8);
        }
        for (_, codes) in flows {
            out.extend_from_slice(codes);
        }
        out.extend_from_slice(&self.schedule);
        out
    }

    /// The batch: every flow's packets, interleaved by the schedule.
    pub fn batch(&self) -> Vec<Vec<u8>> {
        let mut queues: Vec<std::vec::IntoIter<Vec<u8>>> = self
            .flows
            .iter()
            .enumerate()
            .map(|(j, (params, codes))| flow_packets(j, &params.spec(codes)).into_iter())
            .collect();
        let mut left: Vec<usize> = self.flows.iter().map(|(_, c)| c.len()).collect();
        let mut batch = Vec::new();
        let mut pick = self.schedule.iter().map(|&b| usize::from(b));
        let mut turn = 0;
        while left.iter().any(|&l| l > 0) {
            let live: Vec<usize> = (0..left.len()).filter(|&j| left[j] > 0).collect();
            let choice = pick.next().unwrap_or_else(|| {
                turn += 1;
                turn
            });
            let j = live[choice % live.len()];
            left[j] -= 1;
            batch.extend(queues[j].next());
        }
        batch
    }
}

arbitrary_from_bytes!(GroGsoInput, fixed: 1);

/// Builds the train, coalesces it with vnet-core under [`Policy::Linux`] (UDP as asked, a table of
/// `max_flows` flows, buffers with room for the whole batch), and asserts:
///
/// - L5 ([`laws::gro_then_gso`]): every output is accounted for and every input carried exactly
///   once; each merged output, through `check` and vnet-core's GSO, gives back exactly the inputs
///   it carries, byte for byte, in sequence order (the reference segmenter agrees);
/// - fast == reference: the [`ReferenceGro`] coalesces the same way;
/// - L6 on every merged output ([`laws::gso_then_gro`]): splitting it and coalescing the segments
///   gives back the merged packet and its header;
/// - the members of a merged output are one flow's, with consecutive sequence numbers.
pub fn gro_gso(input: &GroGsoInput) {
    let batch = input.batch();
    let opts = GroOptions {
        policy: Policy::Linux,
        udp: input.udp,
        ..GroOptions::default()
    };
    let flows = usize::from(input.max_flows.clamp(1, 8));
    let core = CoreGroTable {
        flows,
        opts,
        capacity: batch.iter().map(Vec::len).sum::<usize>().max(1),
    };
    hold(laws::gro_then_gso(&core, &batch));
    hold(laws::agree(&core, &ReferenceGro { opts, flows }, &batch));
    for (hdr, bytes, members) in core.coalesce(&batch) {
        if members.len() < 2 {
            continue;
        }
        // One flow: the source port says which (flow_packets numbers them from 20000).
        let l4 = usize::from(hdr.csum_start);
        let port = |p: &[u8]| u16::from_be_bytes([p[l4], p[l4 + 1]]);
        assert!(
            members.iter().all(|&m| port(&batch[m]) == port(&bytes)),
            "a merged output mixes flows: {members:?}"
        );
        if hdr.gso_type.base() != GsoType::UDP_L4 {
            let seq = |p: &[u8]| u32::from_be_bytes(p[l4 + 4..l4 + 8].try_into().unwrap());
            let mut next = seq(&bytes);
            for &m in &members {
                let p = &batch[m];
                assert_eq!(seq(p), next, "member {m} out of sequence");
                next = next.wrapping_add((p.len() - usize::from(hdr.hdr_len)) as u32);
            }
        }
        let single = CoreGro::<64> {
            opts,
            capacity: bytes.len(),
        };
        hold(laws::gso_then_gro(&single, &hdr, &bytes));
    }
}
