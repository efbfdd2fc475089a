//! `gro`: the law is `vnet_spec::fuzzing::gro`; the input's byte form is `GroInput`'s.
#![no_main]

use vnet_spec::fuzzing::GroInput;

libfuzzer_sys::fuzz_target!(|input: GroInput| vnet_spec::fuzzing::gro(&input));
