//! `meta`: the law is `vnet_spec::fuzzing::meta`; the input's byte form is `MetaInput`'s.
#![no_main]

use vnet_spec::fuzzing::MetaInput;

libfuzzer_sys::fuzz_target!(|input: MetaInput| vnet_spec::fuzzing::meta(&input));
