//! `hdr_read`: the law is `vnet_spec::fuzzing::hdr_read`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vnet_spec::fuzzing::hdr_read(data));
