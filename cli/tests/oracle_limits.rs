//! The oracle under hostile input and everyday faults (rules O1-O7 in `spec/RULES.md`): a huge
//! batch and a capture of many tiny records under a 2 GB address-space limit (`prlimit --as`),
//! a line without end, a line of invalid UTF-8, a batch over its cap, broken pcap records, a
//! non-UTF-8 argument and a closed stdout. Peak memory is measured with `/usr/bin/time -v` when
//! it is installed, and printed.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vnet_cli::oracle::{limits, pcap};

mod common;

const VNET: &str = env!("CARGO_BIN_EXE_vnet");
/// The address-space limit the large inputs run under.
const AS_LIMIT: &str = "2000000000";
const TIME: &str = "/usr/bin/time";

/// `program ARGS < stdin`; whether the program read all of stdin does not matter here.
fn run(program: &str, args: &[OsString], stdin: Vec<u8>) -> Output {
    common::run_with_stdin(program, args, stdin).0
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn vnet(args: &[&str], stdin: &[u8]) -> Output {
    run(VNET, &os(args), stdin.to_vec())
}

/// `vnet ARGS` under `prlimit --as=2 GB` (and `/usr/bin/time -v` if there is one); returns the
/// output, the time taken and the peak RSS in KiB if measured. stderr keeps only vnet's lines.
fn limited(args: &[&str], stdin: Vec<u8>) -> (Output, Duration, Option<u64>) {
    let timed = Path::new(TIME).exists();
    let mut full = Vec::new();
    if timed {
        full.extend(os(&["-v", "prlimit"]));
    }
    full.extend(os(&[&format!("--as={AS_LIMIT}"), VNET]));
    full.extend(os(args));
    let started = Instant::now();
    let mut out = run(if timed { TIME } else { "prlimit" }, &full, stdin);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let peak = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|kb| kb.trim().parse().ok());
    if timed {
        // time's report starts at its first tab-indented line (or its "Command exited" line).
        let cut = stderr
            .find("\tCommand being timed")
            .or_else(|| stderr.find("Command exited"))
            .unwrap_or(stderr.len());
        out.stderr = stderr.as_bytes()[..cut].to_vec();
        let code = stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("Exit status: "))
            .and_then(|c| c.trim().parse::<i32>().ok());
        assert_eq!(code, out.status.code(), "time passes vnet's status on");
    }
    (out, elapsed, peak)
}

fn report(what: &str, elapsed: Duration, peak: Option<u64>) {
    match peak {
        Some(kb) => eprintln!(
            "{what}: {elapsed:.2?}, peak RSS {:.1} MB",
            kb as f64 / 1024.0
        ),
        None => eprintln!("{what}: {elapsed:.2?} ({TIME} not installed: peak RSS not measured)"),
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The answers of a run that refused some input: it exits 1, and its stdout's lines are returned.
fn refused_lines(out: &Output) -> Vec<String> {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn no_panic(out: &Output) {
    assert!(!stderr(out).contains("panicked"), "{}", stderr(out));
}

/// A minimal IPv4/UDP packet with a right header checksum, one flow per `i`.
fn small_udp(i: usize) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 36, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2,
    ];
    p[4..6].copy_from_slice(&(i as u16).to_be_bytes());
    let c = vnet_core::csum::finish(vnet_core::csum::sum(&p));
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&((1000 + i % 50_000) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 53, 0, 16, 0, 0]);
    p.extend_from_slice(&[i as u8; 8]);
    p
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vnet-limits-{name}-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// O5: 100,000 small packets in one batch: each answered, under a 2 GB limit, in bounded time
/// and memory (it took 6.4 GB and 22 s with a 64 KiB buffer per packet).
#[test]
fn a_100k_packet_batch_is_answered_in_bounded_memory() {
    let mut input = String::new();
    for i in 0..100_000 {
        input.push_str(&vnet_cli::oracle::hex::encode(&small_udp(i)));
        input.push('\n');
    }
    let (out, elapsed, peak) = limited(&["coalesce"], input.into_bytes());
    report("coalesce, 100,000 packets in one batch", elapsed, peak);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("{\"v\":1,\"ok\":true,\"packets\":["));
    assert_eq!(text.matches("\"from\":[").count(), 100_000);
    assert!(text.ends_with("\"from\":[99999]}],\"kernel\":\"linux-6.18\"}\n"));
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    assert!(
        peak.is_none_or(|kb| kb < 512 * 1024),
        "peak RSS {peak:?} KiB"
    );
}

/// O5: a 720 KB capture of 20,000 tiny records (it took 1.3 GB): one batch, under the limit.
#[test]
fn a_capture_of_20k_tiny_records_is_coalesced_in_bounded_memory() {
    let dir = temp_dir("tiny");
    let (capture, merged) = (dir.join("tiny.pcap"), dir.join("merged.pcap"));
    let records: Vec<Vec<u8>> = (0..20_000).map(|i| small_udp(i)[..20].to_vec()).collect();
    pcap::write(fs::File::create(&capture).expect("file"), &records).expect("pcap");
    assert_eq!(fs::metadata(&capture).expect("size").len(), 720_024);
    let path = |p: &PathBuf| p.to_str().expect("utf-8").to_owned();
    let args = [
        "coalesce",
        "--pcap-in",
        &path(&capture),
        "--pcap-out",
        &path(&merged),
    ];
    let (out, elapsed, peak) = limited(&args, Vec::new());
    report("coalesce --pcap-in, 20,000 records", elapsed, peak);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let back = pcap::read(fs::File::open(&merged).expect("file")).expect("pcap");
    assert_eq!(back, records);
    assert!(
        peak.is_none_or(|kb| kb < 256 * 1024),
        "peak RSS {peak:?} KiB"
    );
    fs::remove_dir_all(&dir).expect("cleanup");
}

/// O1: a 100 MiB line is refused with its number, held only up to the limit; the next line is
/// answered.
#[test]
fn an_endless_line_is_refused_and_the_next_answered() {
    let mut input = vec![b'0'; 100 << 20];
    input.extend_from_slice(b"\n45000014\n");
    let (out, elapsed, peak) = limited(&["csum"], input);
    report("csum, a 100 MiB line", elapsed, peak);
    let lines = refused_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with(&format!(
        "{{\"v\":1,\"ok\":false,\"code\":\"line_too_long\",\"rule\":\"O1\",\"line\":1,\"message\":\"O1: line of {} bytes is longer than the limit of {}",
        100 << 20,
        limits::MAX_LINE_BYTES
    )));
    assert_eq!(
        lines[1],
        r#"{"v":1,"ok":true,"sum":"4514","checksum":"baeb","verifies":false}"#
    );
    assert!(stderr(&out).contains("line 1: O1: line of "));
    assert!(
        peak.is_none_or(|kb| kb < 64 * 1024),
        "peak RSS {peak:?} KiB"
    );
}

/// O2: a line of invalid UTF-8 is one malformed line, numbered; the others are answered.
#[test]
fn an_invalid_utf8_line_is_answered_with_its_number() {
    let out = vnet(&["csum"], b"4500\n45\xff00\n45000014\n");
    let lines = refused_lines(&out);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[1],
        r#"{"v":1,"ok":false,"code":"not_utf8","rule":"O2","line":2,"message":"O2: line is not UTF-8 text (invalid byte at column 2)"}"#
    );
    assert!(lines[2].starts_with(r#"{"v":1,"ok":true,"sum":"4514""#));
    assert!(stderr(&out).starts_with("line 2: O2: line is not UTF-8"));
    // In a batch: answered with an error object at once, left out; the batch is still answered.
    let out = vnet(&["coalesce"], b"4500\n\xfe\n4501\n");
    let lines = refused_lines(&out);
    assert!(lines[0].starts_with(r#"{"v":1,"ok":false,"code":"not_utf8","rule":"O2","line":2,"#));
    assert!(lines[1].contains("\"from\":[1]"));
    assert!(stderr(&out).starts_with("line 2: "));
    no_panic(&out);
}

/// O3: a batch over the packet cap is refused whole with one answer; the next batch is answered.
#[test]
fn a_batch_over_the_cap_is_refused_whole() {
    let mut input = "00\n".repeat(limits::MAX_BATCH_PACKETS + 1);
    input.push_str("\n4500\n");
    let out = vnet(&["coalesce"], input.as_bytes());
    let lines = refused_lines(&out);
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with(&format!(
        "{{\"v\":1,\"ok\":false,\"code\":\"batch_too_large\",\"rule\":\"O3\",\"line\":1,\"message\":\"O3: batch of {} packets",
        limits::MAX_BATCH_PACKETS + 1
    )));
    assert!(lines[1].starts_with("{\"v\":1,\"ok\":true,\"packets\":[{\"hdr\""));
}

/// O4: a record header cut short and a caplen beyond the snaplen are errors naming the record;
/// a refused capture writes no --pcap-out.
#[test]
fn broken_pcap_records_are_named() {
    let dir = temp_dir("broken");
    let mut file = Vec::new();
    pcap::write(&mut file, &[small_udp(1), small_udp(2)]).expect("pcap");
    let cut = dir.join("cut.pcap");
    fs::write(&cut, &file[..24 + 16 + 36 + 7]).expect("file");
    let mut big = file.clone();
    big[16..20].copy_from_slice(&30u32.to_le_bytes());
    let snap = dir.join("snap.pcap");
    fs::write(&snap, &big).expect("file");
    let merged = dir.join("merged.pcap");
    let path = |p: &PathBuf| p.to_str().expect("utf-8").to_owned();
    let out = vnet(
        &["segment", "--gso-size", "100", "--pcap-in", &path(&cut)],
        b"",
    );
    let lines = refused_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[1],
        r#"{"v":1,"ok":false,"code":"bad_capture","rule":"O4","record":1,"message":"O4: record 1 at byte 76: record header cut short (7 of 16 bytes)"}"#
    );
    assert!(
        stderr(&out).contains("record 1 at byte 76: record header cut short (7 of 16 bytes)"),
        "{}",
        stderr(&out)
    );
    let args = [
        "coalesce",
        "--pcap-in",
        &path(&snap),
        "--pcap-out",
        &path(&merged),
    ];
    let out = vnet(&args, b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("record 0 at byte 24: 36 bytes captured, more than the snaplen 30"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"v\":1,\"ok\":false,\"code\":\"bad_capture\",\"rule\":\"O4\",\"record\":0,\
         \"message\":\"O4: record 0 at byte 24: 36 bytes captured, more than the snaplen 30\"}\n"
    );
    assert!(!merged.exists());
    fs::remove_dir_all(&dir).expect("cleanup");
}

/// O7: an argument that is not UTF-8 is refused (status 2), not a panic.
#[test]
fn a_non_utf8_argument_is_refused() {
    for args in [
        vec![OsString::from_vec(vec![b'c', 0xff])],
        vec![OsString::from("check"), OsString::from_vec(vec![0xff])],
    ] {
        let out = run(VNET, &args, Vec::new());
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("is not valid UTF-8"),
            "{}",
            stderr(&out)
        );
        no_panic(&out);
    }
}

/// O6: stdout closed before or while vnet writes: status 141, quietly, for every way output is
/// written (answers, --help, the kernel table, inspect).
#[test]
fn a_closed_stdout_ends_quietly_with_status_141() {
    let frame = "010000000000000000000000450000140000400040060000c0000201c6336401\n";
    let many = frame.repeat(100_000);
    let cases: [(&[&str], &[u8]); 6] = [
        (&["check"], many.as_bytes()),
        (&["coalesce"], b"4500\n"),
        (&["--help"], b""),
        (&["coalesce", "--help"], b""),
        (&["kernel", "--table"], b""),
        (&["inspect", frame.trim()], b""),
    ];
    for (args, stdin) in cases {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut child = Command::new(VNET)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .expect("vnet runs");
        let _ = child.stdin.take().expect("stdin").write_all(stdin);
        let out = child.wait_with_output().expect("vnet finishes");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}
