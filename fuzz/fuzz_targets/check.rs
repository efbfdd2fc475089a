//! `check`: the law is `vnet_spec::fuzzing::check`; the input's byte form is `CheckInput`'s.
#![no_main]

use vnet_spec::fuzzing::CheckInput;

libfuzzer_sys::fuzz_target!(|input: CheckInput| vnet_spec::fuzzing::check(&input));
