//! `gro_gso`: the law is `vnet_spec::fuzzing::gro_gso`; the input's byte form is `GroGsoInput`'s.
#![no_main]

use vnet_spec::fuzzing::GroGsoInput;

libfuzzer_sys::fuzz_target!(|input: GroGsoInput| vnet_spec::fuzzing::gro_gso(&input));
