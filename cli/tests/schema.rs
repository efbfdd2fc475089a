//! O9: the oracle's answers against their JSON Schema (`cli/schema/oracle.schema.json`): every golden
//! output line, and an answer of every error code, each produced by the `vnet` program; the
//! schema, the code and `ORACLE.md` name the same error codes.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vnet_cli::oracle::{ErrorCode, limits, pcap};

mod common;

const VNET: &str = env!("CARGO_BIN_EXE_vnet");

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The compiled schema.
struct Schema {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
    json: Value,
}

impl Schema {
    fn load() -> Schema {
        let text = fs::read_to_string(manifest("schema/oracle.schema.json")).expect("schema");
        let json: Value = serde_json::from_str(&text).expect("schema is JSON");
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("urn:vnet:oracle:v1", json.clone())
            .expect("schema resource");
        let index = compiler
            .compile("urn:vnet:oracle:v1", &mut schemas)
            .expect("schema compiles");
        Schema {
            schemas,
            index,
            json,
        }
    }

    /// Parses one output line and validates it; returns it.
    fn check(&self, what: &str, line: &str) -> Value {
        let answer: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {line}"));
        if let Err(e) = self.schemas.validate(&answer, self.index) {
            panic!("{what}: does not follow the schema: {e:#}\n{line}");
        }
        assert_eq!(answer["v"], 1, "{what}: schema version first: {line}");
        assert!(line.starts_with("{\"v\":1,"), "{what}: {line}");
        answer
    }
}

#[test]
fn every_golden_answer_follows_the_schema() {
    let schema = Schema::load();
    let mut checked = 0;
    for entry in fs::read_dir(manifest("tests/golden")).expect("golden dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "out") || path.ends_with("inspect.out") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("golden file");
        for (i, line) in text.lines().enumerate() {
            schema.check(&format!("{}:{}", path.display(), i + 1), line);
            checked += 1;
        }
    }
    eprintln!("{checked} golden answers follow the schema");
    assert!(checked >= 19, "{checked}");
}

/// A temporary file, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("vnet-schema-{}-{name}", std::process::id()));
        fs::write(&path, bytes).expect("temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A UDP packet whose IP protocol says 99: no GSO request can be made of it.
fn not_tcp_nor_udp() -> Vec<u8> {
    let mut pkt = vnet_packet::PacketSpec::udp4(40).build();
    pkt[9] = 99;
    pkt
}

/// Every error code but `coalesce_failed` (no input reaches it: it reports a bug instead of
/// panicking) comes out of the program as an error object that follows the schema, with its
/// rule where it has one and its place; each is documented in ORACLE.md and listed by the
/// schema.
#[test]
fn every_error_code_is_answered_documented_and_in_the_schema() {
    let schema = Schema::load();
    let not_pcap = TempFile::new("not.pcap", b"this is not a capture file");
    let mut capture = Vec::new();
    pcap::write(&mut capture, &[not_tcp_nor_udp()]).expect("pcap");
    let icmp = TempFile::new("proto99.pcap", &capture);
    let long = "0".repeat(limits::MAX_LINE_BYTES + 1) + "\n";
    let many = "00\n".repeat(limits::MAX_BATCH_PACKETS + 1);
    let cases: [(ErrorCode, Vec<&str>, &[u8], &str); 8] = [
        (ErrorCode::HexDigit, vec!["csum"], b"45zz\n", r#""line":1"#),
        (
            ErrorCode::HexOddLength,
            vec!["csum"],
            b"4500\n450\n",
            r#""line":2"#,
        ),
        (
            ErrorCode::LineTooLong,
            vec!["csum"],
            long.as_bytes(),
            r#""line":1"#,
        ),
        (ErrorCode::NotUtf8, vec!["check"], b"\xff\n", r#""line":1"#),
        (
            ErrorCode::BatchTooLarge,
            vec!["coalesce"],
            many.as_bytes(),
            r#""line":1"#,
        ),
        (
            ErrorCode::BadCapture,
            vec!["segment", "--gso-size", "100", "--pcap-in", not_pcap.path()],
            b"",
            r#""message":"O4: not a pcap"#,
        ),
        (
            ErrorCode::BadHeader,
            vec!["check"],
            b"\n010100\n",
            r#""line":2"#,
        ),
        (
            ErrorCode::NotSegmentable,
            vec!["segment", "--gso-size", "100", "--pcap-in", icmp.path()],
            b"",
            r#""record":0"#,
        ),
    ];
    let docs = fs::read_to_string(manifest("ORACLE.md")).expect("ORACLE.md");
    let listed = &schema.json["$defs"]["error"]["properties"]["code"]["enum"];
    for code in ErrorCode::ALL {
        assert!(
            docs.contains(&format!("| `{}` |", code.name())),
            "ORACLE.md does not document {code}"
        );
        assert!(
            listed
                .as_array()
                .is_some_and(|l| l.iter().any(|c| c == code.name())),
            "the schema does not list {code}"
        );
    }
    assert_eq!(listed.as_array().map(Vec::len), Some(ErrorCode::ALL.len()));
    for (code, args, stdin, place) in cases {
        let (out, _) = common::run_with_stdin(VNET, &args, stdin.to_vec());
        assert_eq!(out.status.code(), Some(1), "{code}: exit status");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("\"code\":\"{code}\"")))
            .unwrap_or_else(|| panic!("{code}: no error object in {stdout}"));
        let answer = schema.check(code.name(), line);
        assert_eq!(answer["ok"], false);
        match code.rule() {
            Some(rule) => assert_eq!(answer["rule"], rule, "{code}"),
            None => assert!(answer.get("rule").is_none(), "{code}"),
        }
        assert!(line.contains(place), "{code}: {line} has no {place}");
        eprintln!("{code}: {}", &line[..line.len().min(160)]);
    }
}

/// `vnet kernel` (root: it probes) is versioned and follows the schema too.
#[test]
fn the_kernel_answer_follows_the_schema() {
    let out = std::process::Command::new(VNET)
        .arg("kernel")
        .output()
        .expect("vnet kernel runs");
    if out.status.code() != Some(0) {
        eprintln!(
            "SKIPPED the_kernel_answer_follows_the_schema: `vnet kernel` needs root here ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Schema::load().check("vnet kernel", text.trim_end());
}
