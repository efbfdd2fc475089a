//! `gso_iovec`: the law (L9) is `vnet_spec::fuzzing::gso_iovec`; the input's byte form is
//! `GsoInput`'s, as for `gso`.
#![no_main]

use vnet_spec::fuzzing::GsoInput;

libfuzzer_sys::fuzz_target!(|input: GsoInput| vnet_spec::fuzzing::gso_iovec(&input));
