//! The fuzz corpus in `cargo test`: every committed seed and every regression (a crash input found
//! once and fixed) goes through its harness on every run, on stable, so a crash found once is
//! checked forever.
//!
//! `VNET_WRITE_SEEDS=1 cargo test -p vnet-spec --test fuzz_corpus` (re)writes the seed files
//! `fuzz/corpus/<target>/seed-*` from `vnet_spec::fuzzing::seeds`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Once;

use vnet_core::check::{GsoKind, Offload};
use vnet_core::gro::Gro;
use vnet_core::hdr::GsoType;
use vnet_spec::fuzzing::{
    self, CheckInput, GroGsoInput, GroInput, GsoInput, MetaInput, TARGETS, seeds,
};
use vnet_spec::laws::gso::check_options;
use vnet_spec::model::gro::ReferenceGro;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted by name; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    paths.sort();
    paths
}

/// Under `VNET_WRITE_SEEDS`, writes the seed files, once, before any test reads the corpus.
fn write_seeds_if_asked() {
    static WRITE: Once = Once::new();
    WRITE.call_once(|| {
        if std::env::var_os("VNET_WRITE_SEEDS").is_none() {
            return;
        }
        for seed in seeds::all() {
            let dir = fuzz_dir().join("corpus").join(seed.target);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(&seed.name), &seed.bytes).unwrap();
        }
    });
}

/// The committed seed files are what `seeds::all()` builds, and every target has seeds.
#[test]
fn write_and_check_seeds() {
    write_seeds_if_asked();
    let seeds = seeds::all();
    let mut per_target: BTreeMap<&str, usize> = BTreeMap::new();
    for seed in &seeds {
        let path = fuzz_dir().join("corpus").join(seed.target).join(&seed.name);
        let committed = fs::read(&path).unwrap_or_default();
        assert!(
            committed == seed.bytes,
            "{} differs from what seeds::all() builds: run VNET_WRITE_SEEDS=1 cargo test -p vnet-spec --test fuzz_corpus",
            path.display()
        );
        *per_target.entry(seed.target).or_default() += 1;
    }
    for (target, _) in TARGETS {
        assert!(
            per_target.get(target).copied().unwrap_or(0) >= 10,
            "{target}: too few seeds"
        );
    }
}

/// The check seeds are what they claim: each GSO kind and both tunnel versions reach a segmentation
/// request, and a round trip through the byte form gives the same input.
#[test]
fn check_seeds_reach_every_request() {
    let mut kinds = Vec::new();
    let mut tunnels = 0;
    for (name, input) in seeds::check_inputs() {
        assert_eq!(
            CheckInput::from_bytes(&input.to_bytes()).as_ref(),
            Some(&input),
            "{name}"
        );
        let result = vnet_core::check::check(&input.hdr, &input.packet, &input.opts);
        if name.contains("small") || name.contains("csum-") {
            assert!(
                matches!(result, Ok(Offload::Checksum(_))),
                "{name}: {result:?}"
            );
        } else if name.contains("plain") || name.contains("data-valid") {
            assert_eq!(result, Ok(Offload::Plain), "{name}");
        } else {
            let Ok(Offload::Segment(req)) = result else {
                panic!("{name}: expected a GSO request, got {result:?}");
            };
            kinds.push(req.kind);
            tunnels += usize::from(req.tunnel.is_some());
        }
    }
    for kind in [GsoKind::Tcp, GsoKind::Uso, GsoKind::Ufo] {
        assert!(kinds.contains(&kind), "no seed reaches {kind:?}");
    }
    assert_eq!(tunnels, 8, "every tunnel seed segments");
}

/// The gso seeds round-trip through their byte form, and reach segmentation (every GSO kind and
/// tunnels), checksum completion and a refusal.
#[test]
fn gso_seeds_reach_every_request() {
    let mut kinds = Vec::new();
    let (mut tunnels, mut checksums, mut refused) = (0, 0, 0);
    for (name, input) in seeds::gso_inputs() {
        assert_eq!(
            GsoInput::from_bytes(&input.to_bytes()).as_ref(),
            Some(&input),
            "{name}"
        );
        let copts = check_options(&input.opts);
        match vnet_core::check::check(&input.hdr, &input.packet, &copts) {
            Ok(Offload::Segment(req)) => {
                match vnet_core::gso::Segmenter::new(&req, &input.packet, &input.opts) {
                    Ok(seg) => {
                        assert!(seg.segment_count() > 1, "{name}");
                        kinds.push(req.kind);
                        tunnels += usize::from(req.tunnel.is_some());
                    }
                    Err(_) => refused += 1,
                }
            }
            Ok(Offload::Checksum(_)) => checksums += 1,
            Err(_) => refused += 1,
            Ok(Offload::Plain) => panic!("{name}: a plain packet"),
        }
    }
    for kind in [GsoKind::Tcp, GsoKind::Uso, GsoKind::Ufo] {
        assert!(kinds.contains(&kind), "no gso seed segments {kind:?}");
    }
    assert!(tunnels >= 8, "{tunnels} tunnel seeds segment");
    assert!(
        checksums > 0 && refused > 0,
        "{checksums} checksums, {refused} refused"
    );
}

/// The gro seeds round-trip through their byte form and build the trains they name; the selftest
/// trains merge where the kernel merges (some output carries several inputs) and the faults fail.
#[test]
fn gro_seeds_merge_and_fail() {
    let (mut merged, mut faults) = (0, 0);
    for (name, input) in seeds::gro_inputs() {
        assert_eq!(
            GroInput::from_bytes(&input.to_bytes()).as_ref(),
            Some(&input),
            "{name}"
        );
        let (batch, _) = input.batch();
        assert!(batch.len() >= 2, "{name}: {} packets", batch.len());
        if name.contains("fault") {
            faults += 1;
            continue;
        }
        let flows = fuzzing::TABLES[usize::from(input.table)];
        let outs = ReferenceGro {
            opts: input.opts,
            flows,
        }
        .coalesce(&batch);
        merged += usize::from(outs.iter().any(|(_, _, m)| m.len() > 1));
    }
    assert!(merged >= 30, "only {merged} gro seeds merge");
    assert!(faults >= 6, "{faults} fault seeds");
    let mut bufs = [[0u8; 4]; 2];
    let e = Gro::<1>::default().coalesce(&mut bufs, &[1], &mut [], &mut []);
    assert!(e.is_err(), "a mismatched call fails: {e:?}");
}

/// The gro_gso and meta seeds round-trip through their byte forms; the gro_gso trains merge TCP
/// and UDP.
#[test]
fn gro_gso_and_meta_seeds() {
    let mut merged = Vec::new();
    for (name, input) in seeds::gro_gso_inputs() {
        assert_eq!(
            GroGsoInput::from_bytes(&input.to_bytes()).as_ref(),
            Some(&input),
            "{name}"
        );
        let batch = input.batch();
        let opts = vnet_core::gro::GroOptions {
            udp: input.udp,
            ..Default::default()
        };
        let flows = usize::from(input.max_flows);
        for (hdr, _, members) in (ReferenceGro { opts, flows }).coalesce(&batch) {
            if members.len() > 1 {
                merged.push(hdr.gso_type.base());
            }
        }
    }
    for t in [GsoType::TCPV4, GsoType::TCPV6, GsoType::UDP_L4] {
        assert!(merged.contains(&t), "no gro_gso seed merges {t:?}");
    }
    for (name, input) in seeds::meta_inputs() {
        assert_eq!(
            MetaInput::from_bytes(&input.to_bytes()).as_ref(),
            Some(&input),
            "{name}"
        );
    }
}

/// Every file under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through its harness.
#[test]
fn replay_corpus_and_regressions() {
    write_seeds_if_asked();
    let mut replayed = 0;
    for (target, harness) in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(target));
        assert!(!corpus.is_empty(), "{target}: no corpus committed");
        for path in corpus
            .iter()
            .chain(&files(&fuzz_dir().join("regressions").join(target)))
        {
            let data = fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| harness(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails its harness",
                path.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed > 0);
}

/// The harnesses hold on the empty input and on one of each byte, the smallest cases.
#[test]
fn harnesses_on_tiny_inputs() {
    for (_, harness) in TARGETS {
        harness(&[]);
        for b in 0..=255u8 {
            harness(&[b]);
            harness(&[b; 40]);
        }
    }
    assert_eq!(fuzzing::reference_sum(&[0x01]), 0x0100);
}

/// Replays target `from`'s corpus and regressions through `law` (a target of the same byte form):
/// each file `decode` reads must pass without a panic. Returns how many did.
fn replay_through<T: std::panic::RefUnwindSafe>(
    from: &str,
    decode: fn(&[u8]) -> Option<T>,
    law: fn(&T),
) -> usize {
    let dirs = [
        fuzz_dir().join("corpus").join(from),
        fuzz_dir().join("regressions").join(from),
    ];
    let mut replayed = 0;
    for path in dirs.iter().flat_map(|d| files(d)) {
        let data = fs::read(&path).unwrap();
        if let Some(input) = decode(&data) {
            let outcome = std::panic::catch_unwind(|| law(&input));
            assert!(outcome.is_ok(), "{} fails the law", path.display());
            replayed += 1;
        }
    }
    replayed
}

/// L9 on the whole `gso` corpus (its byte form is `gso_iovec`'s), regressions included: the
/// fuzzer's finds for the contiguous form, cut into pieces, segment alike in the iovec form.
#[test]
fn l9_gso_corpus_through_gso_iovec() {
    let replayed = replay_through("gso", GsoInput::from_bytes, fuzzing::gso_iovec);
    assert!(replayed > 60, "{replayed}");
}

/// L11 on the whole `gro` corpus (its byte form is `gro_iovec`'s), regressions included: the
/// fuzzer's finds for the contiguous form coalesce alike in the iovec form.
#[test]
fn l11_gro_corpus_through_gro_iovec() {
    let replayed = replay_through("gro", GroInput::from_bytes, fuzzing::gro_iovec);
    assert!(replayed > 60, "{replayed}");
}
