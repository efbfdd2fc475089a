//! `csum`: the law is `vnet_spec::fuzzing::csum`, and `csum_with` for each vector build of the
//! sum this CPU can run (vnet-host's AVX2 and AVX-512, picked at run time).
#![no_main]

use std::sync::LazyLock;
use vnet_host::fastsum::FastSum;

/// The vector builds this CPU has, found once.
static BUILDS: LazyLock<Vec<FastSum>> = LazyLock::new(|| {
    let mut builds = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        builds.extend(vnet_host::fastsum::Avx2::detect().map(FastSum::Avx2));
        builds.extend(vnet_host::fastsum::Avx512::detect().map(FastSum::Avx512));
    }
    let names: Vec<&str> = builds.iter().map(|b| b.name()).collect();
    eprintln!("csum: vector builds checked: {names:?}");
    builds
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    vnet_spec::fuzzing::csum(data);
    for &build in BUILDS.iter() {
        vnet_spec::fuzzing::csum_with(build, data);
    }
});
