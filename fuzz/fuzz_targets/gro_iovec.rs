//! `gro_iovec`: the law (L11) is `vnet_spec::fuzzing::gro_iovec`; the input's byte form is
//! `GroInput`'s, as for `gro`.
#![no_main]

use vnet_spec::fuzzing::GroInput;

libfuzzer_sys::fuzz_target!(|input: GroInput| vnet_spec::fuzzing::gro_iovec(&input));
