//! `gso`: the law is `vnet_spec::fuzzing::gso`; the input's byte form is `GsoInput`'s.
#![no_main]

use vnet_spec::fuzzing::GsoInput;

libfuzzer_sys::fuzz_target!(|input: GsoInput| vnet_spec::fuzzing::gso(&input));
