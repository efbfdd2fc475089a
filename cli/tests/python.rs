//! The oracle from Python: `examples/oracle.py` drives the `vnet` program over its JSON
//! interface and checks its answers against what it computes itself. Runs when `python3` is
//! there (CI installs it) and says loudly when it is not.

use std::path::Path;
use std::process::Command;

#[test]
fn python_example_drives_the_oracle() {
    let version = Command::new("python3").arg("--version").output();
    let Some(version) = version.ok().filter(|v| v.status.success()) else {
        eprintln!(
            "SKIPPED python_example_drives_the_oracle: no python3 on PATH; \
             examples/oracle.py was NOT run"
        );
        return;
    };
    eprintln!("{}", String::from_utf8_lossy(&version.stdout).trim());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/oracle.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_vnet"))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "oracle.py failed: {:?}", out.status);
    assert!(
        stdout.ends_with("oracle.py: all answers check out\n"),
        "{stdout}"
    );
}
