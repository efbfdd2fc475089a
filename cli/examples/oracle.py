#!/usr/bin/env python3
"""Drive the vnet oracle from Python: build a TCP super-packet and its virtio-net header here,
ask `vnet check` what it asks for, `vnet segment` for the segments (checked here, checksums
included), `vnet coalesce` to merge them back, and show a malformed line's error object.

    python3 cli/examples/oracle.py [PATH-TO-VNET]

Exits 0 and prints "oracle.py: all answers check out" when every answer is what this script
computed on its own; otherwise says what differed and exits 1. The answers' format is in
cli/ORACLE.md. Standard library only.
"""

import json
import struct
import subprocess
import sys

VNET = sys.argv[1] if len(sys.argv) > 1 else "vnet"


def ask(args, lines):
    """Runs `vnet ARGS`, one input line per item; returns the parsed answers and the status."""
    run = subprocess.run(
        [VNET, *args],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        check=False,
    )
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    for answer in answers:
        expect(answer.get("v") == 1, f"schema version 1: {answer}")
    return answers, run.returncode


def expect(condition, what):
    if not condition:
        print(f"oracle.py: FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def ones_complement_sum(data, start=0):
    if len(data) % 2:
        data += b"\0"
    total = start
    for (word,) in struct.iter_unpack("!H", data):
        total += word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def tcp_super_packet(payload):
    """IPv4/TCP, 192.0.2.1:51234 -> 198.51.100.2:443, ACK, the TCP checksum field holding the
    pseudo-header sum (what a sender leaves for the device with NEEDS_CSUM)."""
    src, dst = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 2])
    tcp_len = 20 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, 1, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", 0xFFFF - ones_complement_sum(ip)) + ip[12:]
    pseudo = ones_complement_sum(src + dst + struct.pack("!HH", 6, tcp_len))
    tcp = struct.pack("!HHIIBBHHH", 51234, 443, 1000, 0, 5 << 4, 0x10, 0xFFFF, pseudo, 0)
    return ip + tcp + payload


def vnet_header(gso_size):
    """12-byte little-endian header: NEEDS_CSUM, TCPV4, hdr_len 40, csum at 20/16."""
    return struct.pack("<BBHHHHH", 1, 1, 40, gso_size, 20, 16, 0)


def tcp_checksum_ok(pkt):
    """Whether an IPv4/TCP packet's TCP checksum verifies."""
    ihl = (pkt[0] & 0x0F) * 4
    tcp = pkt[ihl:]
    pseudo = pkt[12:20] + struct.pack("!HH", 6, len(tcp))
    return ones_complement_sum(pseudo + tcp) == 0xFFFF


def main():
    payload = bytes((i * 7 + 3) & 0xFF for i in range(200))
    pkt = tcp_super_packet(payload)
    frame = (vnet_header(100) + pkt).hex()

    [answer], status = ask(["check"], [frame])
    expect(status == 0 and answer["ok"], f"check accepts the frame: {answer}")
    expect(answer["offload"] == "segment" and answer["kind"] == "tcp", f"TSO: {answer}")
    expect(answer["segments"] == 2 and answer["hdr_len"] == 40, f"2 segments: {answer}")
    print(f"check:    {answer['segments']} segments of {answer['gso_size']} (kernel {answer['kernel']})")

    [answer], status = ask(["segment"], [frame])
    expect(status == 0 and answer["ok"], f"segment: {answer}")
    segments = [bytes.fromhex(s) for s in answer["segments"]]
    expect([len(s) for s in segments] == [140, 140], f"two 140-byte segments: {answer}")
    for i, seg in enumerate(segments):
        expect(tcp_checksum_ok(seg), f"segment {i}: TCP checksum")
        expect(seg[40:] == payload[i * 100:(i + 1) * 100], f"segment {i}: payload")
        seq = struct.unpack("!I", seg[24:28])[0]
        expect(seq == 1000 + i * 100, f"segment {i}: sequence number {seq}")
    print("segment:  2 segments, checksums, payloads and sequence numbers as computed here")

    [answer], status = ask(["coalesce"], [s.hex() for s in segments])
    expect(status == 0 and answer["ok"], f"coalesce: {answer}")
    [merged] = answer["packets"]
    expect(merged["from"] == [0, 1], f"one packet from both: {answer}")
    expect(bytes.fromhex(merged["pkt"]) == pkt, "coalesce gives the super-packet back")
    expect(bytes.fromhex(merged["hdr"])[:10] == vnet_header(100)[:10], f"its header: {merged}")
    print("coalesce: the super-packet and its header back")

    answers, status = ask(["csum"], ["4500", "45zz"])
    expect(status == 1, f"a malformed line makes the status 1, not {status}")
    error = answers[1]
    expect(not error["ok"] and error["code"] == "hex_digit" and error["line"] == 2, f"{error}")
    print(f"csum:     line 2 refused with code {error['code']}: {error['message']}")

    print("oracle.py: all answers check out")


if __name__ == "__main__":
    main()
