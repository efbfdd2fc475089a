//! The conformance runner (`vnet_spec::conformance`): every law holds on vnet-core, a broken
//! implementation is reported with its law, reason and shrunk case, and failure seeds go where
//! the suite says.

use vnet_core::gro::GroOptions;
use vnet_core::gso::GsoOptions;
use vnet_core::hdr::VnetHdr;
use vnet_spec::conformance::{Outcome, Suite};
use vnet_spec::laws::Core;
use vnet_spec::laws::gro::CoreGro;
use vnet_spec::laws::gso::{Segment, Transmitted};

/// Every law the runner has holds on vnet-core.
#[test]
fn every_law_holds_on_core() {
    let gro = CoreGro::<64>::new(GroOptions::default());
    let report = Suite::new()
        .cases(32)
        .hdr(&Core)
        .csum(&Core)
        .meta(&Core)
        .gso(&Core)
        .gro(&gro)
        .run();
    report.assert_holds();
    let ids: Vec<_> = report.verdicts.iter().map(|v| v.id).collect();
    assert_eq!(
        ids,
        [
            "L1a", "L1b", "L1c", "L2a", "L2b", "L2c", "L2d", "L2e", "L2f", "L3a", "L3b", "L3c",
            "L3d", "L4", "L7", "L13", "L14", "L5", "L6", "L15"
        ]
    );
}

/// vnet-core's segmenter, but the last segment never leaves.
struct DropsLast;

impl Segment for DropsLast {
    fn name(&self) -> &'static str {
        "drops-last"
    }

    fn segment(&self, hdr: &VnetHdr, pkt: &[u8], opts: &GsoOptions) -> Transmitted {
        let mut out = Core.segment(hdr, pkt, opts)?;
        if out.len() > 1 {
            out.pop();
        }
        Ok(out)
    }
}

/// A broken segmenter fails L4 and L13 with a reason and a shrunk case, holds L7, and the
/// failure seeds land in the directory the suite names; the report's text is the same on a
/// second run (the seeds replayed first find the same minimal case).
#[test]
fn a_broken_segmenter_is_reported() {
    let dir = std::env::temp_dir().join(format!("vnet-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = || {
        Suite::new()
            .cases(64)
            .regressions(&dir)
            .gso(&DropsLast)
            .run()
    };
    let report = run();
    let outcome = |id| &report.verdicts.iter().find(|v| v.id == id).unwrap().outcome;
    assert_eq!(*outcome("L7"), Outcome::Holds);
    for id in ["L4", "L13"] {
        let Outcome::Fails { reason, case } = outcome(id) else {
            panic!("{id} holds on a broken segmenter:\n{report}");
        };
        assert!(reason.contains("drops-last"), "{reason}");
        assert!(case.contains("SuperPacket"), "{case}");
        assert!(
            dir.join(format!("conformance_{id}.txt")).is_file(),
            "{id}: no seed saved"
        );
    }
    let text = report.to_string();
    assert!(text.starts_with("vnet-spec conformance: 3 laws, 64 cases each, seed 0: 2 fail\n"));
    assert!(
        text.contains("\nL4 ") && text.contains(": FAILS\n    reason: drops-last"),
        "{text}"
    );
    assert_eq!(run().to_string(), text);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same seed gives the same cases; the case count is honoured.
#[test]
fn seed_and_cases_are_the_suites() {
    let a = Suite::new()
        .forget_failures()
        .cases(8)
        .seed(7)
        .gso(&DropsLast)
        .run();
    let b = Suite::new()
        .forget_failures()
        .cases(8)
        .seed(7)
        .gso(&DropsLast)
        .run();
    assert_eq!(a, b);
    assert_eq!(a.cases, 8);
    assert_eq!(a.seed, 7);
}
