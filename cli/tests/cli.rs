//! Golden-output tests of the `vnet` program's oracle subcommands: each `golden/NAME.in` goes
//! through `vnet NAME` and must give `golden/NAME.out` byte for byte, with the exit status and the
//! numbered stderr lines that malformed input earns. `VNET_BLESS=1` rewrites the `.out` files
//! (review the diff before committing it).

use std::fs;
use std::path::PathBuf;
use std::process::Output;

mod common;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn vnet(args: &[&str], stdin: &[u8]) -> Output {
    let (out, written) = common::run_with_stdin(env!("CARGO_BIN_EXE_vnet"), args, stdin.to_vec());
    written.expect("input written");
    out
}

/// Runs `vnet` as [`vnet`] does and asserts it exits 0 (its stderr as the message); returns
/// its stdout.
fn vnet_ok(args: &[&str], stdin: &[u8]) -> String {
    let out = vnet(args, stdin);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn compare(name: &str, out: &Output) {
    let path = golden(&format!("{name}.out"));
    if std::env::var_os("VNET_BLESS").is_some() {
        fs::write(&path, &out.stdout).expect("golden written");
    }
    let expected = fs::read_to_string(&path).expect("golden file");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{name}");
}

/// Runs `vnet NAME < golden/NAME.in`; returns its stderr lines.
fn run_golden(name: &str, malformed_lines: &[usize]) -> Vec<String> {
    let input = fs::read(golden(&format!("{name}.in"))).expect("golden input");
    let out = vnet(&[name], &input);
    compare(name, &out);
    assert_eq!(
        out.status.code(),
        Some(if malformed_lines.is_empty() { 0 } else { 1 }),
        "{name}: exit status"
    );
    let stderr: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect();
    for line in malformed_lines {
        assert!(
            stderr
                .iter()
                .any(|l| l.starts_with(&format!("line {line}: "))),
            "{name}: no error for line {line} in {stderr:?}"
        );
    }
    stderr
}

#[test]
fn check_answers_every_line_and_numbers_the_bad_ones() {
    let stderr = run_golden("check", &[7, 8]);
    assert_eq!(
        stderr.last().map(String::as_str),
        Some("vnet: 2 malformed input line(s) or batch(es)")
    );
}

#[test]
fn segment_gives_the_wire_packets() {
    run_golden("segment", &[]);
}

#[test]
fn coalesce_answers_each_batch() {
    run_golden("coalesce", &[8]);
}

#[test]
fn csum_answers_every_line() {
    run_golden("csum", &[4, 5]);
}

#[test]
fn inspect_decodes_a_frame() {
    let frame = fs::read_to_string(golden("inspect.arg")).expect("frame");
    let out = vnet(&["inspect", frame.trim()], b"");
    assert_eq!(out.status.code(), Some(0));
    compare("inspect", &out);
}

#[test]
fn every_subcommand_has_help_and_refuses_bad_options() {
    for name in [
        "check", "segment", "coalesce", "csum", "inspect", "demo", "relay", "kernel",
    ] {
        let out = vnet(&[name, "--help"], b"");
        assert_eq!(out.status.code(), Some(0), "{name} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("\nUsage: vnet {name}")),
            "{name}: {text}"
        );
        let out = vnet(&[name, "--no-such-option"], b"");
        assert_eq!(out.status.code(), Some(2), "{name} with a bad option");
    }
    let out = vnet(&["--version"], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        concat!("vnet ", env!("CARGO_PKG_VERSION"), "\n")
    );
    let out = vnet(&["check", "--hdr-len", "11"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("invalid value '11' for '--hdr-len <N>': expected 10, 12, 20 or 24")
    );
}

#[test]
fn pcap_through_segment_and_coalesce_round_trips() {
    let dir = std::env::temp_dir().join(format!("vnet-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let frame = vnet_cli::oracle::hex::decode(
        fs::read_to_string(golden("inspect.arg"))
            .expect("frame")
            .trim(),
    )
    .expect("hex");
    let super_packet = frame[12..].to_vec();
    let capture = dir.join("in.pcap");
    let segments = dir.join("segments.pcap");
    let merged = dir.join("merged.pcap");
    vnet_cli::oracle::pcap::write(
        fs::File::create(&capture).expect("file"),
        std::slice::from_ref(&super_packet),
    )
    .expect("pcap written");
    let path = |p: &PathBuf| p.to_str().expect("utf-8 path").to_owned();
    let answer = vnet_ok(
        &[
            "segment",
            "--gso-size",
            "100",
            "--pcap-in",
            &path(&capture),
            "--pcap-out",
            &path(&segments),
        ],
        b"",
    );
    assert_eq!(
        answer,
        "{\"v\":1,\"ok\":true,\"record\":0,\"segments\":2,\"kernel\":\"linux-6.18\"}\n"
    );
    let segs =
        vnet_cli::oracle::pcap::read(fs::File::open(&segments).expect("file")).expect("pcap");
    assert_eq!(segs.iter().map(Vec::len).collect::<Vec<_>>(), [140, 140]);
    vnet_ok(
        &[
            "coalesce",
            "--pcap-in",
            &path(&segments),
            "--pcap-out",
            &path(&merged),
        ],
        b"",
    );
    let back = vnet_cli::oracle::pcap::read(fs::File::open(&merged).expect("file")).expect("pcap");
    // GRO gives back the super-packet, its TCP checksum field holding the pseudo-header sum (G6),
    // as the captured super-packet's did.
    assert_eq!(back, [super_packet]);
    fs::remove_dir_all(&dir).expect("cleanup");
}

/// `--checksums trusted` (G10): a segment whose TCP checksum fails joins its flow's merge, as the
/// kernel's GRO takes a CHECKSUM_UNNECESSARY packet; verified (the default) it is handed on alone
/// and the flow is cut in two around it (G1).
#[test]
fn coalesce_trusts_checksums_only_when_asked() {
    use vnet_packet::PacketSpec;
    let mut train = vnet_packet::build_with_incrementing_ids(&mut [
        PacketSpec::gro_selftest(false, 100, 0),
        PacketSpec::gro_selftest(false, 100, 100),
        PacketSpec::gro_selftest(false, 100, 200),
    ]);
    train[1][40] ^= 0x5a;
    let batch: String = train
        .iter()
        .map(|p| vnet_cli::oracle::hex::encode(p) + "\n")
        .collect();
    let packets = |args: &[&str]| vnet_ok(args, batch.as_bytes()).matches("\"pkt\"").count();
    assert_eq!(packets(&["coalesce"]), 3, "verified");
    assert_eq!(
        packets(&["coalesce", "--checksums", "verify"]),
        3,
        "verified"
    );
    assert_eq!(
        packets(&["coalesce", "--checksums", "trusted"]),
        1,
        "trusted"
    );
}

/// `--kernel NAME` answers with that kernel line's rules and names it: a USO frame (K16) and a
/// `csum_start` inside the IPv4 header (K17) are refused by 6.18's rules and accepted by 6.1's
/// (USO is no GSO type there, so the frame is refused as V1 instead).
#[test]
fn check_follows_the_named_kernel() {
    // USO, NEEDS_CSUM at 20/6, gso_size 100, over IPv4/UDP with 300 payload bytes.
    let uso = "01051c006400140006000000450001480001400040110000c0000201c63364019c4012b501340000"
        .to_owned()
        + &"00".repeat(300);
    // NEEDS_CSUM at 10/6, no GSO, over IPv4/UDP with 8 payload bytes.
    let inside = "0100000000000a0006000000450000240001400040110000c0000201c6336401\
                  9c4012b5001000000000000000000000";
    let input = format!("{uso}\n{inside}\n");
    let answers = |kernel: &str| vnet_ok(&["check", "--kernel", kernel], input.as_bytes());
    for (kernel, first, second) in [
        (
            "linux-6.18",
            "{\"v\":1,\"ok\":true,\"offload\":\"segment\"",
            "{\"v\":1,\"ok\":false,\"rule\":\"V3\"",
        ),
        (
            "linux-6.1",
            "{\"v\":1,\"ok\":false,\"rule\":\"V1\"",
            "{\"v\":1,\"ok\":true,\"offload\":\"checksum\"",
        ),
    ] {
        let answer = answers(kernel);
        let lines: Vec<&str> = answer.lines().collect();
        assert!(lines[0].starts_with(first), "{answer}");
        assert!(lines[1].starts_with(second), "{answer}");
        let named = format!(",\"kernel\":\"{kernel}\"}}");
        assert!(lines.iter().all(|l| l.ends_with(&named)), "{answer}");
    }
    // Without --kernel: the newest profile, named.
    assert_eq!(answers("linux-6.18"), {
        let out = vnet(&["check"], input.as_bytes());
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    let bad = vnet(&["check", "--kernel", "linux-2.6"], b"");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("linux-6.1, linux-6.12"));
}

/// The README's "Kernels" table is `vnet kernel --table`, character for character.
#[test]
fn readme_kernel_table_is_generated() {
    let table = vnet_ok(&["kernel", "--table"], b"");
    let readme = fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
        .expect("README");
    assert!(
        readme.contains(&table),
        "README.md's Kernels table differs from `vnet kernel --table`:\n{table}"
    );
}

/// `--kernel auto` probes the running kernel (root) and its answers name what `vnet kernel` finds.
#[test]
fn check_kernel_auto_names_the_probed_profile() {
    if !vnet_host::netns::require_root("check_kernel_auto_names_the_probed_profile") {
        return;
    }
    let json = vnet_ok(&["kernel"], b"");
    eprintln!("vnet kernel: {json}");
    let label = json
        .split("\"profile\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .map(|p| p.trim_matches('"').replace("null", "unknown"))
        .expect("a profile field");
    let answer = vnet_ok(
        &["check", "--kernel", "auto"],
        b"010000000000000000000000450000140000400040060000c0000201c6336401\n",
    );
    assert!(
        answer
            .trim_end()
            .ends_with(&format!(",\"kernel\":\"{label}\"}}")),
        "{answer} vs {label}"
    );
}

/// O10: a pcapng capture of Ethernet frames (an ARP frame among them) through `segment` into
/// pcapng with Ethernet, and back through `coalesce` into raw-IP pcap: the super-packets again,
/// the ARP frame skipped and counted. Every capture is built here, its frames by vnet-packet.
#[test]
fn pcapng_and_ethernet_through_segment_and_coalesce_round_trip() {
    use vnet_cli::oracle::capture::{self, Format, Link};
    let dir = std::env::temp_dir().join(format!("vnet-cli-ng-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let path = |name: &str| dir.join(name).to_str().expect("utf-8 path").to_owned();
    let supers: Vec<Vec<u8>> = [
        vnet_packet::PacketSpec::tcp4(1000),
        vnet_packet::PacketSpec::tcp6(700),
    ]
    .iter()
    .map(vnet_packet::PacketSpec::build)
    .collect();
    // An Ethernet pcapng capture: the two super-packets with an ARP frame between them.
    let mut arp = capture::add_ethernet(&[0u8; 28]);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let mut file = Vec::new();
    let mut writer = capture::Writer::new(&mut file, Format::Pcapng, Link::Raw);
    // Written raw, so that the ARP frame goes in as it is: relabel the interface as Ethernet.
    for frame in [
        capture::add_ethernet(&supers[0]),
        arp,
        capture::add_ethernet(&supers[1]),
    ] {
        writer.write(&frame).expect("record");
    }
    writer.finish().expect("capture");
    file[28 + 8] = 1; // the interface description's link type: LINKTYPE_ETHERNET
    fs::write(path("in.pcapng"), &file).expect("file");

    let out = vnet(
        &[
            "segment",
            "--gso-size",
            "500",
            "--pcap-in",
            &path("in.pcapng"),
            "--pcap-out",
            &path("segments.pcapng"),
            "--pcap-format",
            "pcapng",
            "--pcap-link",
            "ethernet",
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("1 Ethernet frame(s) without an IP packet skipped"),
        "{stderr}"
    );
    let answers = String::from_utf8_lossy(&out.stdout);
    assert_eq!(answers.lines().count(), 2, "{answers}");
    let written = fs::read(path("segments.pcapng")).expect("segments");
    assert_eq!(written[..4], [0x0a, 0x0d, 0x0d, 0x0a], "pcapng");
    assert_eq!(written[28 + 8], 1, "Ethernet link type");
    let segments = capture::read(written.as_slice()).expect("segments read");
    assert_eq!(segments.len(), 2 + 2, "1000 and 700 bytes at 500");

    vnet_ok(
        &[
            "coalesce",
            "--pcap-in",
            &path("segments.pcapng"),
            "--pcap-out",
            &path("merged.pcap"),
        ],
        b"",
    );
    let merged = fs::read(path("merged.pcap")).expect("merged");
    assert_eq!(merged[20], 101, "raw-IP pcap by default");
    let mut back = capture::read(merged.as_slice()).expect("merged read");
    // GRO hands on flows in completion order (G7): compare by IP version.
    back.sort_by_key(|p| p[0] >> 4);
    // GRO's merged packets carry the pseudo-header sum in the checksum field (G6); compare
    // everything else.
    assert_eq!(back.len(), 2);
    for (got, want) in back.iter().zip(&supers) {
        assert_eq!(got.len(), want.len());
        let l4 = if want[0] >> 4 == 4 { 20 } else { 40 };
        assert_eq!(got[..l4 + 16], want[..l4 + 16]);
        assert_eq!(got[l4 + 18..], want[l4 + 18..]);
    }
    fs::remove_dir_all(&dir).expect("cleanup");
}
