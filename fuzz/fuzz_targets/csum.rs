//! `csum`: the law is `vnet_spec::fuzzing::csum`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vnet_spec::fuzzing::csum(data));
