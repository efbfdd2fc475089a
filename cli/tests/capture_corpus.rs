//! The `capture` fuzz target's corpus and regressions (`fuzz/corpus/capture/`,
//! `fuzz/regressions/capture/`) through its law in every `cargo test`, on stable; and the law on
//! the smallest inputs.

use std::fs;
use std::path::Path;

use vnet_cli::oracle::capture::reader_law;

#[test]
fn capture_corpus_and_regressions_hold_the_reader_law() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["corpus/capture", "regressions/capture"] {
        let Ok(entries) = fs::read_dir(fuzz.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            reader_law(&fs::read(&path).expect("file"));
            replayed += 1;
        }
    }
    eprintln!("{replayed} capture inputs replayed");
    assert!(replayed >= 4, "the committed seeds are missing");
    reader_law(&[]);
    for b in 0..=255u8 {
        reader_law(&[b]);
        reader_law(&[b; 40]);
    }
}
