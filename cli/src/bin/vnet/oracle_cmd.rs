//! `vnet check | segment | coalesce | csum | inspect`: the oracle's command line (hex in and one
//! JSON object out per line or batch, so that any implementation can diff itself against vnet).
//! The answers come from `vnet_cli::oracle`; this module only reads options and files.

use std::error::Error;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use vnet_cli::oracle::capture;
use vnet_cli::oracle::limits::Batch;
use vnet_cli::oracle::{self, Answer, At, Coalescing, ErrorCode, Format, InputError, hex};
use vnet_core::check::{CheckOptions, Mode};
use vnet_core::gro::{Checksums, GroOptions, Policy};
use vnet_core::hdr::{Endian, Layout};
use vnet_core::kernel::{PROFILES, Profile};
use vnet_core::wire::Link;

use crate::args::{ArgError, OnOff};
use crate::out::{self, Stdout};

pub(crate) const CHECK_ABOUT: &str = "\
Each input line is one frame in hex: a virtio-net header, then the packet (IP, or Ethernet with
--tap). Each answer is one JSON object (cli/ORACLE.md):
{\"v\":1,\"ok\":true,\"offload\":\"plain\"|\"checksum\"|\"segment\",...} or
{\"v\":1,\"ok\":false,\"rule\":\"V3\",\"error\":\"...\"}, ending with the kernel profile that
answered, \"kernel\":\"linux-6.18\". A malformed line (bad hex, a truncated header) is answered
with an error object, {\"v\":1,\"ok\":false,\"code\":\"hex_digit\",\"line\":7,\"message\":...},
reported on stderr, and makes the exit status 1; the other lines are still answered. So is a
line that is not UTF-8 (rule O2) or longer than 262144 bytes (O1: \"code\":\"line_too_long\"; the
rest of it is skipped unread into memory). If stdout is closed, vnet stops quietly with status 141.";

pub(crate) const SEGMENT_ABOUT: &str = "\
Each input line is one frame in hex (as for `vnet check`); each answer is
{\"v\":1,\"ok\":true,\"segments\":[\"4500...\",...]}: the packets the device puts on the wire (the
packet, the packet with its checksum completed, or its segments), or a rejection as for `vnet
check`. Lines are limited as for `vnet check` (O1, O2).

With --pcap-in FILE --gso-size N, each record of a capture is a super-packet to segment at
--gso-size (the header a sender would write is made for it); the segments go to --pcap-out if
given, and one JSON answer per record to stdout, both as each record is read (records of any
number; one of more than 1048576 bytes, beyond the file's snaplen or its own original length, or
cut short is an error naming the record and its byte offset, O4).";

pub(crate) const COALESCE_ABOUT: &str = "\
Input lines are IP packets in hex, without a header; a blank line (or the end of input) ends a
batch. Each batch is answered with {\"v\":1,\"ok\":true,\"packets\":[{\"hdr\":\"0100...\",
\"pkt\":\"4500...\",\"from\":[0,1,2]},...]}: the packets GRO writes, in order, each with its
virtio-net header (layout --hdr-len, default 12, little-endian) and the indices of the batch's
packets it carries. With --pcap-in the whole capture is one batch; the coalesced packets go to
--pcap-out if given.

Limits: a line of at most 262144 bytes (O1; a longer line, or one that is not UTF-8, O2, is
answered with an error object and left out of its batch); a batch of at most 1000000 packets and
67108864 bytes (O3: a larger batch, or capture, is refused whole with one
\"code\":\"batch_too_large\" answer and nothing of it written, not even --pcap-out). Memory stays
within a small multiple of the batch's bytes.";

pub(crate) const CSUM_ABOUT: &str = "\
Each input line is bytes in hex; each answer is {\"v\":1,\"ok\":true,\"sum\":\"...\",
\"checksum\":\"...\",\"verifies\":...}: the folded ones'-complement sum, its complement (the value a
checksum field stores), and whether the bytes, checksum field included, verify.";

pub(crate) const INSPECT_ABOUT: &str = "\
Decodes one frame (a virtio-net header, then the packet) for a person: the header's fields, the
packet's headers, what `check` asks of it and what `gso` makes of it.";

/// `--kernel NAME|auto`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KernelChoice {
    /// Probe the running kernel.
    Auto,
    /// A named profile.
    Named(Profile),
}

fn parse_kernel(name: &str) -> Result<KernelChoice, String> {
    if name == "auto" {
        return Ok(KernelChoice::Auto);
    }
    Profile::named(name)
        .map(KernelChoice::Named)
        .ok_or_else(|| {
            let names: Vec<&str> = PROFILES.iter().map(|(n, _)| *n).collect();
            format!("expected auto or one of {}", names.join(", "))
        })
}

fn parse_layout(size: &str) -> Result<Layout, String> {
    size.parse()
        .ok()
        .and_then(Layout::from_size)
        .ok_or_else(|| "expected 10, 12, 20 or 24".to_owned())
}

fn parse_endian(text: &str) -> Result<Endian, String> {
    match text {
        "le" => Ok(Endian::Little),
        "be" => Ok(Endian::Big),
        _ => Err("expected le or be".to_owned()),
    }
}

fn parse_checksums(text: &str) -> Result<Checksums, String> {
    match text {
        "verify" => Ok(Checksums::Verify),
        "trusted" => Ok(Checksums::Trusted),
        _ => Err("expected verify or trusted".to_owned()),
    }
}

fn parse_policy(text: &str) -> Result<Policy, String> {
    match text {
        "linux" => Ok(Policy::Linux),
        "relaxed" => Ok(Policy::Relaxed),
        _ => Err("expected linux or relaxed".to_owned()),
    }
}

/// The options of check, segment, coalesce and inspect: how frames are laid out and whose rules
/// judge them.
#[derive(clap::Args, Debug)]
pub(crate) struct FrameOptions {
    /// Header layout: 10, 12, 20 or 24 bytes
    #[arg(long, value_name = "N", default_value = "12", value_parser = parse_layout)]
    hdr_len: Layout,
    /// Header byte order: le or be
    #[arg(long, value_name = "le|be", default_value = "le", value_parser = parse_endian)]
    endian: Endian,
    /// Packets start with an Ethernet header
    #[arg(long)]
    tap: bool,
    /// Also enforce the virtio spec's driver requirements (P4, P6, P9)
    #[arg(long)]
    strict: bool,
    /// USO segment limit (default: the kernel profile's)
    #[arg(long, value_name = "N")]
    udp_max_segments: Option<u16>,
    /// Whose rules: a named profile (`vnet kernel --table` lists them; default the newest), or
    /// auto: probe the running kernel (root; `vnet kernel` shows what it finds)
    #[arg(long, value_name = "NAME|auto", value_parser = parse_kernel)]
    kernel: Option<KernelChoice>,
    /// UDP-tunnel GSO negotiated
    #[arg(long)]
    tunnel: bool,
    /// With --tunnel: its checksum offload too
    #[arg(long)]
    tunnel_csum: bool,
}

/// `vnet segment`'s options.
#[derive(clap::Args, Debug)]
pub(crate) struct SegmentOptions {
    #[command(flatten)]
    frame: FrameOptions,
    /// Segment each record of this capture instead of reading stdin
    #[arg(long, value_name = "FILE", requires = "gso_size")]
    pcap_in: Option<PathBuf>,
    /// Write the segments of --pcap-in's records to this capture
    #[arg(long, value_name = "FILE", requires = "pcap_in")]
    pcap_out: Option<PathBuf>,
    #[command(flatten)]
    output: CaptureOut,
    /// The segment size for --pcap-in's super-packets
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    gso_size: Option<u16>,
}

/// `vnet coalesce`'s options.
#[derive(clap::Args, Debug)]
pub(crate) struct CoalesceOptions {
    #[command(flatten)]
    frame: FrameOptions,
    /// What Linux 6.18 hands a TUN (linux) or peers' looser merging (relaxed)
    #[arg(long, value_name = "linux|relaxed", default_value = "linux", value_parser = parse_policy)]
    policy: Policy,
    /// Coalesce UDP too
    #[arg(long, value_name = "on|off", default_value = "on")]
    udp_gro: OnOff,
    /// Verify each segment's TCP/UDP checksum (G1) or take it as verified, as the kernel does for
    /// CHECKSUM_UNNECESSARY packets (G10)
    #[arg(long, value_name = "verify|trusted", default_value = "verify", value_parser = parse_checksums)]
    checksums: Checksums,
    /// Coalesce this capture, as one batch, instead of reading stdin
    #[arg(long, value_name = "FILE")]
    pcap_in: Option<PathBuf>,
    /// Write the coalesced packets of --pcap-in to this capture
    #[arg(long, value_name = "FILE", requires = "pcap_in")]
    pcap_out: Option<PathBuf>,
    #[command(flatten)]
    output: CaptureOut,
}

/// How --pcap-out is written (--pcap-in is read as whatever it is: pcap or pcapng, raw IP or
/// Ethernet).
#[derive(clap::Args, Debug)]
pub(crate) struct CaptureOut {
    /// --pcap-out's format: pcap or pcapng
    #[arg(long, value_name = "pcap|pcapng", default_value = "pcap", value_parser = parse_format)]
    pcap_format: capture::Format,
    /// --pcap-out's link type: raw (IP packets, 101) or ethernet (frames, DLT_EN10MB)
    #[arg(long, value_name = "raw|ethernet", default_value = "raw", value_parser = parse_link)]
    pcap_link: capture::Link,
}

fn parse_format(text: &str) -> Result<capture::Format, String> {
    match text {
        "pcap" => Ok(capture::Format::Pcap),
        "pcapng" => Ok(capture::Format::Pcapng),
        _ => Err("expected pcap or pcapng".to_owned()),
    }
}

fn parse_link(text: &str) -> Result<capture::Link, String> {
    match text {
        "raw" => Ok(capture::Link::Raw),
        "ethernet" => Ok(capture::Link::Ethernet),
        _ => Err("expected raw or ethernet".to_owned()),
    }
}

/// `vnet inspect`'s options.
#[derive(clap::Args, Debug)]
pub(crate) struct InspectOptions {
    #[command(flatten)]
    frame: FrameOptions,
    /// The frame in hex
    #[arg(value_name = "HEX")]
    hex: String,
}

/// The frame options as core's: the format, the check options, the label of the kernel profile
/// (`--kernel auto` probes the running kernel here).
fn frame_options(o: &FrameOptions) -> Result<(Format, CheckOptions, &'static str), Box<dyn Error>> {
    let (kernel, label) = match o.kernel {
        None => (Profile::NEWEST, Profile::NEWEST.name().unwrap_or("unknown")),
        Some(KernelChoice::Named(p)) => (p, p.name().unwrap_or("unknown")),
        Some(KernelChoice::Auto) => {
            let probed = vnet_host::kernel::probe()?;
            (probed.profile, probed.label())
        }
    };
    let mut opts = CheckOptions {
        layout: o.hdr_len,
        kernel,
        ..CheckOptions::default()
    };
    if o.tap {
        opts.link = Link::Tap;
    }
    if o.strict {
        opts.mode = Mode::Strict;
    }
    if let Some(n) = o.udp_max_segments {
        opts.kernel.udp_max_segments = n;
    }
    opts.tunnel = o.tunnel;
    opts.tunnel_csum = o.tunnel_csum;
    let format = Format {
        layout: o.hdr_len,
        endian: o.endian,
    };
    Ok((format, opts, label))
}

/// Exit status 1 when some input was malformed (it was still reported and the rest answered).
fn finish(malformed: usize) -> Result<(), Box<dyn Error>> {
    if malformed > 0 {
        return Err(format!("{malformed} malformed input line(s) or batch(es)").into());
    }
    Ok(())
}

pub(crate) fn check(options: FrameOptions) -> Result<(), Box<dyn Error>> {
    let (format, opts, label) = frame_options(&options)?;
    let malformed = oracle::run_lines(io::stdin().lock(), Stdout::lock(), |frame| {
        oracle::check_frame(frame, &format, &opts).with_kernel(label)
    })?;
    finish(malformed)
}

pub(crate) fn segment(options: SegmentOptions) -> Result<(), Box<dyn Error>> {
    let (format, opts, label) = frame_options(&options.frame)?;
    let SegmentOptions {
        pcap_in,
        pcap_out,
        gso_size,
        output,
        ..
    } = options;
    let Some(path) = pcap_in else {
        let malformed = oracle::run_lines(io::stdin().lock(), Stdout::lock(), |frame| {
            oracle::segment_frame(frame, &format, &opts).with_kernel(label)
        })?;
        return finish(malformed);
    };
    let gso_size = gso_size.ok_or_else(|| ArgError("--pcap-in needs --gso-size".into()))?;
    let mut out = Stdout::lock();
    let mut records = match capture::Reader::new(BufReader::new(File::open(&path)?)) {
        Ok(records) => records,
        Err(e) => return capture_error(&mut out, e, None),
    };
    let mut written = pcap_out.map(|p| create_pcap(p, &output)).transpose()?;
    let mut malformed = 0;
    for (i, record) in records.by_ref().enumerate() {
        let mut pkt = match record {
            Ok(pkt) => pkt,
            Err(e) => return capture_error(&mut out, e, Some(At::Record(i))),
        };
        let answer = match oracle::header_for_capture(&mut pkt, gso_size) {
            Ok(hdr) => Answer::Reply(match oracle::segment(&hdr, &pkt, &opts) {
                Ok(segments) => {
                    if let Some(writer) = &mut written {
                        segments.iter().try_for_each(|s| writer.write(s))?;
                    }
                    let mut m = oracle::fields(true);
                    m.insert("record".into(), i.into());
                    m.insert("segments".into(), segments.len().into());
                    m
                }
                Err(rejected) => rejected,
            }),
            Err(e) => {
                malformed += 1;
                errln!("record {i}: {e}");
                Answer::malformed(ErrorCode::NotSegmentable, e)
            }
        };
        let answer = answer.with_kernel(label);
        writeln!(out, "{}", answer.to_json(Some(At::Record(i))))?;
    }
    report_skipped(records.skipped());
    if let Some(writer) = written {
        writer.finish()?;
    }
    finish(malformed)
}

/// Says how many Ethernet frames carried no IP packet (O10: skipped, counted).
fn report_skipped(skipped: usize) {
    if skipped > 0 {
        errln!("{skipped} Ethernet frame(s) without an IP packet skipped");
    }
}

/// A capture that cannot be read (O4): an error object on stdout (`bad_capture`, naming the
/// record), the message on stderr, exit status 1. Other I/O errors end the program as they are.
fn capture_error(out: &mut Stdout, e: io::Error, at: Option<At>) -> Result<(), Box<dyn Error>> {
    if e.kind() != io::ErrorKind::InvalidData {
        return Err(e.into());
    }
    errln!("{e}");
    let error = InputError::new(ErrorCode::BadCapture, format!("O4: {e}"));
    writeln!(out, "{}", error.to_json(at))?;
    finish(1)
}

/// A pcap file to write, record by record.
fn create_pcap(path: PathBuf, o: &CaptureOut) -> io::Result<capture::Writer<BufWriter<File>>> {
    let out = BufWriter::new(File::create(path)?);
    Ok(capture::Writer::new(out, o.pcap_format, o.pcap_link))
}

/// Why a capture was not read whole.
enum Unread {
    /// The capture is broken (O4), at this record if it got that far.
    Broken(io::Error, Option<At>),
    /// The capture is over the batch limits (O3).
    TooLarge(InputError),
}

/// A capture read whole as one batch, kept to the batch limits (O3).
fn read_batch(path: &Path) -> io::Result<Result<Vec<Vec<u8>>, Unread>> {
    let records = match capture::Reader::new(BufReader::new(File::open(path)?)) {
        Ok(records) => records,
        Err(e) => return Ok(Err(Unread::Broken(e, None))),
    };
    let mut batch = Batch::new();
    let mut records = records;
    for (i, record) in records.by_ref().enumerate() {
        match record {
            Ok(pkt) => batch.push(pkt),
            Err(e) => return Ok(Err(Unread::Broken(e, Some(At::Record(i))))),
        }
    }
    report_skipped(records.skipped());
    Ok(batch.take().map_err(Unread::TooLarge))
}

pub(crate) fn coalesce(options: CoalesceOptions) -> Result<(), Box<dyn Error>> {
    let (format, _, label) = frame_options(&options.frame)?;
    let CoalesceOptions {
        policy,
        udp_gro: OnOff(udp),
        checksums,
        pcap_in,
        pcap_out,
        output,
        ..
    } = options;
    let opts = GroOptions {
        policy,
        udp,
        checksums,
        ..GroOptions::default()
    };
    let Some(path) = pcap_in else {
        let malformed = oracle::run_batches(io::stdin().lock(), Stdout::lock(), |batch| {
            oracle::coalesce_batch(batch, &format, &opts).with_kernel(label)
        })?;
        return finish(malformed);
    };
    let mut out = Stdout::lock();
    let records = match read_batch(&path)? {
        Ok(records) => records,
        Err(Unread::Broken(e, at)) => return capture_error(&mut out, e, at),
        Err(Unread::TooLarge(refusal)) => {
            errln!("{refusal}");
            writeln!(out, "{}", refusal.to_json(None))?;
            return finish(1);
        }
    };
    let coalesced = Coalescing::run(&records, &opts)
        .map_err(|e| InputError::new(ErrorCode::CoalesceFailed, e))?;
    drop(records);
    let answer = oracle::coalesce_answer(&coalesced, &format).with_kernel(label);
    writeln!(out, "{}", answer.to_json(None))?;
    if answer.is_malformed() {
        return finish(1);
    }
    if let Some(path) = pcap_out {
        let mut writer = create_pcap(path, &output)?;
        for (_, pkt, _) in coalesced.packets() {
            writer.write(pkt)?;
        }
        writer.finish()?;
    }
    Ok(())
}

pub(crate) fn csum() -> Result<(), Box<dyn Error>> {
    let malformed = oracle::run_lines(io::stdin().lock(), Stdout::lock(), oracle::csum_line)?;
    finish(malformed)
}

pub(crate) fn inspect(options: InspectOptions) -> Result<(), Box<dyn Error>> {
    let (format, opts, _) = frame_options(&options.frame)?;
    let frame = hex::decode(&options.hex)?;
    out::text(&oracle::inspect(&frame, &format, &opts))?;
    Ok(())
}
