//! `vnet check | segment | coalesce | csum | inspect`: the oracle's command line (hex in and one
//! JSON object out per line or batch, so that any implementation can diff itself against vnet).
//! The answers come from `vnet_cli::oracle`; this module only reads options and files.

use std::error::Error;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use vnet_cli::oracle::limits::Batch;
use vnet_cli::oracle::{self, Answer, At, Coalescing, ErrorCode, Format, InputError, hex, pcap};
use vnet_core::check::{CheckOptions, Mode};
use vnet_core::gro::{GroOptions, Policy};
use vnet_core::hdr::{Endian, Layout};
use vnet_core::kernel::{PROFILES, Profile};
use vnet_core::wire::Link;

use crate::args::{ArgError, Args, OnOff};
use crate::out::{self, Stdout};

pub(crate) const CHECK_USAGE: &str = "\
usage: vnet check [--hdr-len 10|12|20|24] [--endian le|be] [--tap] [--strict]
                  [--udp-max-segments N] [--tunnel] [--tunnel-csum] [--kernel NAME|auto] < FRAMES

Each input line is one frame in hex: a virtio-net header, then the packet (IP, or Ethernet with
--tap). Each answer is one JSON object (cli/ORACLE.md):
{\"v\":1,\"ok\":true,\"offload\":\"plain\"|\"checksum\"|\"segment\",...} or
{\"v\":1,\"ok\":false,\"rule\":\"V3\",\"error\":\"...\"}, ending with the kernel profile that
answered, \"kernel\":\"linux-6.18\". A malformed line (bad hex, a truncated header) is answered
with an error object, {\"v\":1,\"ok\":false,\"code\":\"hex_digit\",\"line\":7,\"message\":...},
reported on stderr, and makes the exit status 1; the other lines are still answered. So is a
line that is not UTF-8 (rule O2) or longer than 262144 bytes (O1: \"code\":\"line_too_long\"; the
rest of it is skipped unread into memory). If stdout is closed, vnet stops quietly with status 141.

options:
  --hdr-len N           header layout: 10, 12 (default), 20 or 24 bytes
  --endian le|be        header byte order (default le)
  --tap                 packets start with an Ethernet header
  --strict              also enforce the virtio spec's driver requirements (P4, P6, P9)
  --udp-max-segments N  USO segment limit (default: the kernel profile's)
  --kernel NAME|auto    whose rules: a named profile (`vnet kernel --table` lists them; default
                        the newest), or auto: probe the running kernel (root; `vnet kernel`
                        shows what it finds)
  --tunnel              UDP-tunnel GSO negotiated (with --tunnel-csum: its checksum offload too)";

pub(crate) const SEGMENT_USAGE: &str = "\
usage: vnet segment [check's options] < FRAMES
       vnet segment --gso-size N --pcap-in FILE [--pcap-out FILE]

Each input line is one frame in hex (as for `vnet check`); each answer is
{\"v\":1,\"ok\":true,\"segments\":[\"4500...\",...]}: the packets the device puts on the wire (the packet,
the packet with its checksum completed, or its segments), or a rejection as for `vnet check`.
Lines are limited as for `vnet check` (O1, O2).
With --pcap-in, each record of a raw-IP capture is a super-packet to segment at --gso-size
(the header a sender would write is made for it); the segments go to --pcap-out if given, and one
JSON answer per record to stdout, both as each record is read (records of any number; one of more
than 1048576 bytes, beyond the file's snaplen or its own original length, or cut short is an
error naming the record and its byte offset, O4).";

pub(crate) const COALESCE_USAGE: &str = "\
usage: vnet coalesce [--policy linux|relaxed] [--udp-gro on|off] [--hdr-len N] [--endian le|be]
                     < PACKETS
       vnet coalesce ... --pcap-in FILE [--pcap-out FILE]

Input lines are IP packets in hex, without a header; a blank line (or the end of input) ends a
batch. Each batch is answered with {\"v\":1,\"ok\":true,\"packets\":[{\"hdr\":\"0100...\",\"pkt\":\"4500...\",
\"from\":[0,1,2]},...]}: the packets GRO writes, in order, each with its virtio-net header (layout
--hdr-len, default 12, little-endian) and the indices of the batch's packets it carries. With
--pcap-in the whole capture is one batch; the coalesced packets go to --pcap-out if given.

Limits: a line of at most 262144 bytes (O1; a longer line, or one that is not UTF-8, O2, is
reported with its line number and left out of its batch); a batch of at most 1000000 packets and
67108864 bytes (O3: a larger batch, or capture, is refused whole with one
{\"v\":1,\"ok\":false,\"code\":\"batch_too_large\",...} answer and nothing of it written, not even --pcap-out). Memory
stays within a small multiple of the batch's bytes.

options:
  --policy linux|relaxed  what Linux 6.18 hands a TUN (default) or peers' looser merging
  --udp-gro on|off        coalesce UDP too (default on)
  --kernel NAME|auto      whose behaviour (as for `vnet check`); answers name it, \"kernel\":...";

pub(crate) const CSUM_USAGE: &str = "\
usage: vnet csum < HEX

Each input line is bytes in hex; each answer is {\"v\":1,\"ok\":true,\"sum\":\"...\",\"checksum\":\"...\",
\"verifies\":...}: the folded ones'-complement sum, its complement (the value a checksum field
stores), and whether the bytes, checksum field included, verify.";

pub(crate) const INSPECT_USAGE: &str = "\
usage: vnet inspect [check's options] HEX

Decodes one frame (a virtio-net header, then the packet) for a person: the header's fields, the
packet's headers, what `check` asks of it and what `gso` makes of it.";

/// `--kernel NAME|auto`: the profile and the label answers carry.
fn kernel_option(args: &mut Args) -> Result<(Profile, &'static str), Box<dyn Error>> {
    let Some(name) = args.value::<String>("--kernel")? else {
        return Ok((Profile::NEWEST, Profile::NEWEST.name().unwrap_or("unknown")));
    };
    if name == "auto" {
        let probed = vnet_host::kernel::probe()?;
        return Ok((probed.profile, probed.label()));
    }
    match Profile::named(&name) {
        Some(p) => Ok((p, p.name().unwrap_or("unknown"))),
        None => {
            let names: Vec<&str> = PROFILES.iter().map(|(n, _)| *n).collect();
            Err(ArgError(format!(
                "--kernel {name:?}: expected auto or one of {}",
                names.join(", ")
            ))
            .into())
        }
    }
}

/// The options shared by check, segment and inspect, and the label of the kernel profile.
fn frame_options(args: &mut Args) -> Result<(Format, CheckOptions, &'static str), Box<dyn Error>> {
    let (kernel, label) = kernel_option(args)?;
    let size = args.value::<usize>("--hdr-len")?.unwrap_or(12);
    let layout = Layout::from_size(size)
        .ok_or_else(|| ArgError(format!("--hdr-len {size}: expected 10, 12, 20 or 24")))?;
    let endian = match args.value::<String>("--endian")?.as_deref() {
        None | Some("le") => Endian::Little,
        Some("be") => Endian::Big,
        Some(other) => {
            return Err(ArgError(format!("--endian {other:?}: expected le or be")).into());
        }
    };
    let mut opts = CheckOptions {
        layout,
        kernel,
        ..CheckOptions::default()
    };
    if args.flag("--tap") {
        opts.link = Link::Tap;
    }
    if args.flag("--strict") {
        opts.mode = Mode::Strict;
    }
    if let Some(n) = args.value("--udp-max-segments")? {
        opts.kernel.udp_max_segments = n;
    }
    opts.tunnel = args.flag("--tunnel");
    opts.tunnel_csum = args.flag("--tunnel-csum");
    Ok((Format { layout, endian }, opts, label))
}

/// Whether `--help` was asked for; prints `usage` if so.
fn help(args: &mut Args, usage: &str) -> Result<bool, out::StdoutError> {
    let asked = args.flag("--help") || args.flag("-h");
    if asked {
        out::line(usage)?;
    }
    Ok(asked)
}

/// Exit status 1 when some input was malformed (it was still reported and the rest answered).
fn finish(malformed: usize) -> Result<(), Box<dyn Error>> {
    if malformed > 0 {
        return Err(format!("{malformed} malformed input line(s) or batch(es)").into());
    }
    Ok(())
}

pub(crate) fn check(mut args: Args) -> Result<(), Box<dyn Error>> {
    if help(&mut args, CHECK_USAGE)? {
        return Ok(());
    }
    let (format, opts, label) = frame_options(&mut args)?;
    args.finish()?;
    let malformed = oracle::run_lines(io::stdin().lock(), Stdout::lock(), |frame| {
        oracle::check_frame(frame, &format, &opts).with_kernel(label)
    })?;
    finish(malformed)
}

pub(crate) fn segment(mut args: Args) -> Result<(), Box<dyn Error>> {
    if help(&mut args, SEGMENT_USAGE)? {
        return Ok(());
    }
    let (format, opts, label) = frame_options(&mut args)?;
    let pcap_in: Option<String> = args.value("--pcap-in")?;
    let pcap_out: Option<String> = args.value("--pcap-out")?;
    let gso_size: Option<u16> = args.value("--gso-size")?;
    args.finish()?;
    let Some(path) = pcap_in else {
        let malformed = oracle::run_lines(io::stdin().lock(), Stdout::lock(), |frame| {
            oracle::segment_frame(frame, &format, &opts).with_kernel(label)
        })?;
        return finish(malformed);
    };
    let gso_size = gso_size.ok_or_else(|| ArgError("--pcap-in needs --gso-size".into()))?;
    let mut out = Stdout::lock();
    let records = match pcap::Reader::new(BufReader::new(File::open(&path)?)) {
        Ok(records) => records,
        Err(e) => return capture_error(&mut out, e, None),
    };
    let mut written = pcap_out.map(create_pcap).transpose()?;
    let mut malformed = 0;
    for (i, record) in records.enumerate() {
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
    if let Some(writer) = written {
        writer.finish()?;
    }
    finish(malformed)
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
fn create_pcap(path: String) -> io::Result<pcap::Writer<BufWriter<File>>> {
    Ok(pcap::Writer::new(BufWriter::new(File::create(path)?)))
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
    let records = match pcap::Reader::new(BufReader::new(File::open(path)?)) {
        Ok(records) => records,
        Err(e) => return Ok(Err(Unread::Broken(e, None))),
    };
    let mut batch = Batch::new();
    for (i, record) in records.enumerate() {
        match record {
            Ok(pkt) => batch.push(pkt),
            Err(e) => return Ok(Err(Unread::Broken(e, Some(At::Record(i))))),
        }
    }
    Ok(batch.take().map_err(Unread::TooLarge))
}

pub(crate) fn coalesce(mut args: Args) -> Result<(), Box<dyn Error>> {
    if help(&mut args, COALESCE_USAGE)? {
        return Ok(());
    }
    let (format, _, label) = frame_options(&mut args)?;
    let policy = match args.value::<String>("--policy")?.as_deref() {
        None | Some("linux") => Policy::Linux,
        Some("relaxed") => Policy::Relaxed,
        Some(other) => {
            return Err(ArgError(format!("--policy {other:?}: expected linux or relaxed")).into());
        }
    };
    let udp = args.value::<OnOff>("--udp-gro")?.unwrap_or(OnOff(true)).0;
    let pcap_in: Option<String> = args.value("--pcap-in")?;
    let pcap_out: Option<String> = args.value("--pcap-out")?;
    args.finish()?;
    let opts = GroOptions {
        policy,
        udp,
        ..GroOptions::default()
    };
    let Some(path) = pcap_in else {
        let malformed = oracle::run_batches(io::stdin().lock(), Stdout::lock(), |batch| {
            oracle::coalesce_batch(batch, &format, &opts).with_kernel(label)
        })?;
        return finish(malformed);
    };
    let mut out = Stdout::lock();
    let records = match read_batch(Path::new(&path))? {
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
        let mut writer = create_pcap(path)?;
        for (_, pkt, _) in coalesced.packets() {
            writer.write(pkt)?;
        }
        writer.finish()?;
    }
    Ok(())
}

pub(crate) fn csum(mut args: Args) -> Result<(), Box<dyn Error>> {
    if help(&mut args, CSUM_USAGE)? {
        return Ok(());
    }
    args.finish()?;
    let malformed = oracle::run_lines(io::stdin().lock(), Stdout::lock(), oracle::csum_line)?;
    finish(malformed)
}

pub(crate) fn inspect(mut args: Args) -> Result<(), Box<dyn Error>> {
    if help(&mut args, INSPECT_USAGE)? {
        return Ok(());
    }
    let (format, opts, _) = frame_options(&mut args)?;
    let text = args
        .positional()
        .ok_or_else(|| ArgError("inspect needs a frame in hex".into()))?;
    args.finish()?;
    let frame = hex::decode(&text)?;
    out::text(&oracle::inspect(&frame, &format, &opts))?;
    Ok(())
}
