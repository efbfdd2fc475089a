//! The laws as a conformance kit: hand an implementation of one or more law traits to a
//! [`Suite`], and [`Suite::run`] runs every law that applies with proptest and returns a
//! [`Report`]: each law holds, or fails with its shrunk counterexample. `spec/CONFORMANCE.md` is
//! the how-to.
//!
//! ```
//! use vnet_spec::conformance::Suite;
//! use vnet_spec::laws::Core;
//!
//! let report = Suite::new().cases(16).gso(&Core).run();
//! assert!(report.holds(), "{report}");
//! ```
//!
//! - Every law runs `cases` cases (default: proptest's, 256 or `PROPTEST_CASES`) from a fixed
//!   [`seed`](Suite::seed) (default 0), so a report is the same on every run.
//! - A failing case's seed is saved in `conformance_<law>.txt` under
//!   [`regressions_dir`](crate::regressions_dir) (the nearest `proptest-regressions/` above the
//!   calling test's package; [`Suite::regressions`] names another, [`Suite::forget_failures`]
//!   saves none) and replayed first by every later run.
//! - A law is a `laws` function ([`crate::laws`]'s failure convention: `Err(TestCaseError)` names
//!   what differed); a panic of the implementation is caught and reported as that law's failure.

use std::fmt::{self, Debug, Write as _};
use std::path::{Path, PathBuf};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use vnet_core::hdr::GsoType;

use crate::laws::csum::{self, Checksummer, Sum};
use crate::laws::gro::{self, Coalesce};
use crate::laws::gso::{self, Segment};
use crate::laws::hdr::{self, HeaderCodec};
use crate::laws::meta::{self, MetaTranslator};
use crate::model::Reference;
use crate::model::gro::ReferenceGro;
use crate::strategy;

/// A counterexample is shown up to this many characters.
const MAX_CASE: usize = 4096;

type Check<'a> = Box<dyn Fn(&mut TestRunner) -> Outcome + 'a>;

struct Law<'a> {
    id: &'static str,
    what: &'static str,
    imp: String,
    check: Check<'a>,
}

/// The laws to run, on the implementations handed over, and how.
pub struct Suite<'a> {
    cases: Option<u32>,
    seed: u64,
    regressions: Option<PathBuf>,
    laws: Vec<Law<'a>>,
}

impl Default for Suite<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Suite<'a> {
    /// No laws yet; proptest's case count, seed 0, seeds saved in
    /// [`regressions_dir`](crate::regressions_dir).
    pub fn new() -> Self {
        Suite {
            cases: None,
            seed: 0,
            regressions: crate::regressions_dir(),
            laws: Vec::new(),
        }
    }

    /// Cases per law.
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = Some(cases);
        self
    }

    /// The seed of every law's random cases (the same seed gives the same cases and report).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Failure seeds in `dir/conformance_<law>.txt`.
    pub fn regressions(mut self, dir: impl Into<PathBuf>) -> Self {
        self.regressions = Some(dir.into());
        self
    }

    /// No failure seeds saved or replayed.
    pub fn forget_failures(mut self) -> Self {
        self.regressions = None;
        self
    }

    fn law<S>(
        &mut self,
        id: &'static str,
        what: &'static str,
        imp: String,
        strategy: S,
        test: impl Fn(&S::Value) -> Result<(), TestCaseError> + 'a,
    ) where
        S: Strategy + 'a,
        S::Value: Debug,
    {
        let check = move |runner: &mut TestRunner| match runner.run(&strategy, |v| test(&v)) {
            Ok(()) => Outcome::Holds,
            Err(TestError::Fail(reason, case)) => Outcome::Fails {
                reason: reason.message().to_string(),
                case: clip(format!("{case:?}")),
            },
            Err(TestError::Abort(why)) => Outcome::Aborted(why.message().to_string()),
        };
        self.laws.push(Law {
            id,
            what,
            imp,
            check: Box::new(check),
        });
    }

    /// L1a-c on a virtio-net header codec (`c` against the reference model for L1c).
    pub fn hdr<C: HeaderCodec>(mut self, c: &'a C) -> Self {
        use strategy::hdr::{bytes_any, endian_any, layout_any, layout_endian_hdr, vnet_hdr_any};
        let imp = short_type_name::<C>();
        self.law(
            "L1a",
            "read(write(h)) == h",
            imp.clone(),
            layout_endian_hdr(),
            |(l, e, h)| hdr::read_of_write(c, h, *l, *e),
        );
        self.law(
            "L1b",
            "write(read(b)) == b",
            imp.clone(),
            (bytes_any(32), layout_any(), endian_any()),
            |(b, l, e)| hdr::write_of_read(c, b, *l, *e),
        );
        self.law(
            "L1c",
            "agrees with the reference codec, errors included",
            imp,
            (bytes_any(32), vnet_hdr_any(), layout_any(), endian_any()),
            |(b, h, l, e)| hdr::codecs_agree(c, &Reference, b, h, *l, *e),
        );
        self
    }

    /// L2a on a bulk checksum alone (all a sum-only peer offers).
    pub fn sum<C: Sum>(mut self, c: &'a C) -> Self {
        self.law(
            "L2a",
            "the sum equals RFC 1071's",
            short_type_name::<C>(),
            (strategy::hdr::bytes_any(9009), 0usize..8),
            |(d, off)| csum::sum_matches(c, &Reference, &d[(*off).min(d.len())..]),
        );
        self
    }

    /// L2a-f on a whole checksum arithmetic.
    pub fn csum<C: Checksummer>(mut self, c: &'a C) -> Self {
        use strategy::hdr::bytes_any;
        let imp = short_type_name::<C>();
        self = self.sum(c);
        self.law(
            "L2b",
            "copy_and_sum copies and sums",
            imp.clone(),
            (bytes_any(4096), 0usize..64),
            |(d, off)| csum::copy_and_sum_is_sum(c, d, *off),
        );
        self.law(
            "L2c",
            "sums of pieces combine into the sum of the whole",
            imp.clone(),
            (bytes_any(600), vec(any::<usize>(), 0..6)),
            |(d, cuts)| csum::combine_of_parts(c, d, cuts),
        );
        self.law(
            "L2d",
            "an RFC 1624 update equals recomputation",
            imp.clone(),
            (bytes_any(200), any::<usize>(), any::<u16>()),
            |(d, at, new)| csum::update_is_recomputation(c, d, *at, *new),
        );
        self.law(
            "L2e",
            "pseudo-headers equal the reference's",
            imp.clone(),
            (
                any::<([u8; 4], [u8; 4])>(),
                any::<([u8; 16], [u8; 16])>(),
                any::<u8>(),
                any::<u32>(),
            ),
            |((s4, d4), (s6, d6), p, len)| {
                csum::pseudo_headers_agree(c, &Reference, *s4, *d4, s6, d6, *p, *len)
            },
        );
        self.law(
            "L2f",
            "a finished checksum verifies",
            imp,
            (bytes_any(300), any::<usize>(), any::<u16>()),
            |(d, at, seed)| csum::finished_verifies(c, d, *at, *seed),
        );
        self
    }

    /// L3a-d on a translator between offload metadata and the virtio-net header.
    pub fn meta<T: MetaTranslator>(mut self, t: &'a T) -> Self {
        use strategy::hdr::{vnet_hdr_any, vnet_hdr_plausible};
        use strategy::meta::{tx_case_representable, tx_metadata_any};
        let imp = short_type_name::<T>();
        self.law(
            "L3a",
            "metadata -> header -> metadata keeps what the header carries",
            imp.clone(),
            tx_case_representable(),
            |case| meta::metadata_round_trip(t, case),
        );
        self.law(
            "L3b",
            "header -> metadata -> header is the identity",
            imp.clone(),
            tx_case_representable(),
            |case| meta::header_round_trip(t, case),
        );
        self.law(
            "L3c",
            "a translated header has one of M2-M4's shapes",
            imp.clone(),
            tx_metadata_any(),
            |m| meta::header_shape(t, m),
        );
        self.law(
            "L3d",
            "receive metadata follows M8",
            imp,
            prop_oneof![vnet_hdr_any(), vnet_hdr_plausible()],
            |h| meta::rx_rule(t, h),
        );
        self
    }

    /// L4, L7 and agreement with the reference segmenter on a GSO implementation.
    pub fn gso<S: Segment>(mut self, s: &'a S) -> Self {
        use strategy::packet::{super_packet_any, vnet_hdr_any};
        let imp = s.name().to_string();
        self.law(
            "L4",
            "GSO output is valid (S1-S4)",
            imp.clone(),
            super_packet_any(),
            |sp| gso::valid_output(s, &sp.hdr, &sp.pkt, &sp.opts),
        );
        self.law(
            "L7",
            "any header and bytes: no panic, output bounded",
            imp.clone(),
            (super_packet_any(), vnet_hdr_any(), vec(any::<u8>(), 0..300)),
            |(sp, h, b)| gso::total(s, h, b, &sp.opts),
        );
        self.law(
            "L13",
            "equals the reference segmenter, refusals included",
            imp,
            super_packet_any(),
            |sp| gso::agree(s, &Reference, &sp.hdr, &sp.pkt, &sp.opts),
        );
        self
    }

    /// The GRO invariants, L5, L6 and agreement with the reference coalescer (same options, the
    /// kernel's flow limit) on a coalescer.
    pub fn gro<C: Coalesce>(mut self, c: &'a C) -> Self {
        use strategy::train::{super_packet_any, train_any};
        let imp = c.name();
        self.law(
            "L14",
            "every input carried once; merged outputs are GSO requests",
            imp.clone(),
            train_any(),
            |b| gro::invariants(c, b).map(drop),
        );
        self.law(
            "L5",
            "GRO then GSO gives the inputs back",
            imp.clone(),
            train_any(),
            |b| gro::gro_then_gso(c, b),
        );
        let udp = c.options().udp;
        self.law(
            "L6",
            "GSO then GRO gives the super-packet back",
            imp.clone(),
            super_packet_any(),
            move |(h, p)| {
                if !udp && h.gso_type.base() == GsoType::UDP_L4 {
                    return Ok(()); // UDP is not coalesced under these options
                }
                gro::gso_then_gro(c, h, p)
            },
        );
        let model = ReferenceGro::new(c.options());
        self.law(
            "L15",
            "equals the reference coalescer",
            imp,
            train_any(),
            move |b| gro::agree(c, &model, b),
        );
        self
    }

    /// Runs every law, in the order they were added.
    pub fn run(self) -> Report {
        let mut config = proptest::test_runner::Config::default();
        if let Some(cases) = self.cases {
            config.cases = cases;
        }
        let cases = config.cases;
        let verdicts = self
            .laws
            .into_iter()
            .map(|law| {
                let config = match &self.regressions {
                    Some(dir) => crate::config_in(Some(dir), &format!("conformance_{}", law.id)),
                    None => crate::config_in(None::<&Path>, ""),
                };
                let config = proptest::test_runner::Config { cases, ..config };
                let mut runner = TestRunner::new_with_rng(config, rng(self.seed));
                Verdict {
                    id: law.id,
                    what: law.what,
                    imp: law.imp,
                    outcome: (law.check)(&mut runner),
                }
            })
            .collect();
        Report {
            cases,
            seed: self.seed,
            verdicts,
        }
    }
}

fn rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

fn clip(s: String) -> String {
    if s.len() <= MAX_CASE {
        return s;
    }
    let cut: String = s.chars().take(MAX_CASE).collect();
    format!("{cut}… ({} characters)", s.len())
}

/// `my_crate::Gso` -> `Gso` (generic arguments kept).
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    let short = base.rsplit("::").next().unwrap_or(base);
    format!("{short}{}", &full[base.len()..])
}

/// One law's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every case held.
    Holds,
    /// A case failed: why (the law's message, the first line naming what differed) and the
    /// shrunk case (its `Debug` form).
    Fails {
        /// The law's message.
        reason: String,
        /// The minimal failing case proptest found.
        case: String,
    },
    /// The run stopped without a verdict (e.g. too many rejected cases).
    Aborted(String),
}

/// One law on one implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The law's id: a row of `spec/RULES.md` (L7 here is its part for a segmenter).
    pub id: &'static str,
    /// What the law says, in a few words.
    pub what: &'static str,
    /// The implementation's name (its `name()`, or its type's).
    pub imp: String,
    /// The outcome.
    pub outcome: Outcome,
}

/// Every law's verdict. Its `Display` is a stable text: a header line, then one line per law
/// (`holds` or `FAILS`), a failure followed by its reason and case, indented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Cases per law.
    pub cases: u32,
    /// The seed of the cases.
    pub seed: u64,
    /// In the order the laws ran.
    pub verdicts: Vec<Verdict>,
}

impl Report {
    /// Whether every law held.
    pub fn holds(&self) -> bool {
        self.verdicts.iter().all(|v| v.outcome == Outcome::Holds)
    }

    /// The verdicts that did not hold.
    pub fn failures(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|v| v.outcome != Outcome::Holds)
    }

    /// Panics with the report unless every law held (for a `#[test]`).
    #[track_caller]
    pub fn assert_holds(&self) {
        assert!(self.holds(), "{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures().count();
        writeln!(
            f,
            "vnet-spec conformance: {} laws, {} cases each, seed {}: {}",
            self.verdicts.len(),
            self.cases,
            self.seed,
            if failed == 0 {
                "all hold".to_string()
            } else {
                format!("{failed} fail")
            }
        )?;
        for v in &self.verdicts {
            let mut line = format!("{:<8} {:<60} {}", v.id, v.what, v.imp);
            match &v.outcome {
                Outcome::Holds => line.push_str(": holds"),
                Outcome::Fails { reason, case } => {
                    line.push_str(": FAILS");
                    for l in reason.lines() {
                        let _ = write!(line, "\n    reason: {l}");
                    }
                    let _ = write!(line, "\n    case:   {case}");
                }
                Outcome::Aborted(why) => {
                    let _ = write!(line, ": ABORTED\n    {why}");
                }
            }
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}
