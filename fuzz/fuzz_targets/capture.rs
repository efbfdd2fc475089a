//! `capture`: the law is `vnet_cli::oracle::capture::reader_law` (the oracle's pcap/pcapng
//! reader, raw IP and Ethernet; O4, O10).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vnet_cli::oracle::capture::reader_law(data));
