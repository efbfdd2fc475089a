//! Law L1 (R1-R14): the virtio-net header codec round-trips, for vnet-core and the byte-by-byte
//! reference model, and the two agree.

use vnet_spec::laws::Core;
use vnet_spec::laws::hdr::{codecs_agree, read_of_write, write_of_read};
use vnet_spec::model::Reference;
use vnet_spec::strategy::hdr::{
    bytes_any, endian_any, layout_any, layout_endian_hdr, vnet_hdr_any,
};

vnet_spec::law_tests! {
    /// L1a: read(write(h)) == h for every header that fits, every layout and byte order.
    fn l1_read_of_write((layout, endian, hdr) in layout_endian_hdr()) {
        read_of_write(&Core, &hdr, layout, endian)?;
        read_of_write(&Reference, &hdr, layout, endian)?;
    }

    /// L1b: write(read(b)) == b for every byte string that reads (short ones are Truncated).
    fn l1_write_of_read(bytes in bytes_any(32), layout in layout_any(), endian in endian_any()) {
        write_of_read(&Core, &bytes, layout, endian)?;
        write_of_read(&Reference, &bytes, layout, endian)?;
    }

    /// L1c: vnet-core and the model agree on every read and write, errors included (R14).
    fn l1_core_agrees_with_model(
        bytes in bytes_any(32),
        hdr in vnet_hdr_any(),
        layout in layout_any(),
        endian in endian_any(),
    ) {
        codecs_agree(&Core, &Reference, &bytes, &hdr, layout, endian)?;
    }
}
