//! GRO without copying payload, on the receive path of a relay (G9): one `UDP_GRO` receive
//! buffer (the datagrams of `gso_size` bytes back to back, the last maybe shorter; each an IP
//! packet) is coalesced where it lies with core's [`Gro::coalesce_iov`] and every packet that
//! results goes to a TUN device in one `writev`: its virtio-net header, its rewritten headers,
//! slices of the receive buffer. Payload bytes are read once (to verify their checksums) and
//! copied by nobody but the kernel.

use std::io::IoSlice;
use std::os::fd::AsFd;

use vnet_core::gro::{Gro, GroError, GroOptions, IovOutput, LINUX_HELD_FLOWS};
use vnet_core::hdr::Layout;

use crate::fastsum::FastSum;
use crate::{Device, Error, Result, sys};

/// The most iovecs one `writev` takes (Linux's `UIO_MAXIOV`); a merged packet of more pieces (a
/// train of tiny segments) is gathered into one buffer instead.
const IOV_MAX: usize = 1024;

/// What [`GroIov::write_batch`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Packets written to the device (one `writev` each).
    pub packets: usize,
    /// Datagrams taken from the receive buffer.
    pub inputs: usize,
    /// Packet bytes written (virtio-net headers not counted).
    pub bytes: usize,
    /// Payload bytes gathered by copying: 0 unless a packet had more than 1024 pieces.
    pub copied: usize,
}

/// A coalescer for `UDP_GRO` receive buffers: core's [`Gro`] with this CPU's fastest sum, and
/// storage kept between batches (grown as needed, never shrunk).
#[derive(Debug)]
pub struct GroIov<const FLOWS: usize = LINUX_HELD_FLOWS> {
    gro: Gro<FLOWS, FastSum>,
    out: Vec<IovOutput>,
    owner: Vec<usize>,
    headers: Vec<u8>,
    gathered: Vec<u8>,
    /// The allocation of [`GroIov::write`]'s iovec list, kept empty between writes.
    iov: Vec<IoSlice<'static>>,
}

/// `v`'s allocation, emptied, for slices of another lifetime: an emptied vector collected into
/// one of a type of the same size and alignment keeps its buffer (std's in-place collect), so
/// [`GroIov::write`] allocates only when a packet has more pieces than any before it.
fn recycle<'b>(mut v: Vec<IoSlice<'_>>) -> Vec<IoSlice<'b>> {
    v.clear();
    v.into_iter().map(|_| IoSlice::new(&[])).collect()
}

impl<const FLOWS: usize> GroIov<FLOWS> {
    /// A coalescer with these options.
    pub fn new(opts: GroOptions) -> Self {
        GroIov {
            gro: Gro::with_summer(opts, FastSum::detect()),
            out: Vec::new(),
            owner: Vec::new(),
            headers: Vec::new(),
            gathered: Vec::new(),
            iov: Vec::new(),
        }
    }

    /// Coalesces the datagrams of `buf` (`gso_size` bytes each, the last maybe shorter; a
    /// `gso_size` of 0 means one datagram, `buf` whole) and writes every resulting packet to
    /// `dev` with one `writev`, its virtio-net header in the device's layout and byte order.
    /// Stops at the first failed write. `outputs` receives each packet's [`IovOutput`] (for a
    /// caller that counts or logs), in the order written.
    pub fn write_batch(
        &mut self,
        dev: &Device,
        buf: &[u8],
        gso_size: usize,
        outputs: &mut Vec<IovOutput>,
    ) -> Result<Written> {
        let step = if gso_size == 0 {
            buf.len().max(1)
        } else {
            gso_size
        };
        let pkts: Vec<&[u8]> = buf.chunks(step).collect();
        let mut slices = Vec::new();
        let count = self.coalesce(&pkts, &mut slices)?;
        let mut written = Written {
            inputs: pkts.len(),
            ..Written::default()
        };
        for k in 0..count {
            let Some(o) = self.output(k) else { break };
            self.write(dev, &o, &slices, &mut written)?;
            outputs.push(o);
        }
        Ok(written)
    }

    /// Coalesces the batch `pkts` (datagrams lying anywhere, read only) and returns how many
    /// packets result: [`GroIov::output`] `0..n`, their payload slices of `pkts` set in `slices`
    /// (resized to one entry per input), ready for [`GroIov::write`]. For a caller that chooses
    /// its inputs (drops some) or goes on past a failed write.
    pub fn coalesce<'a>(&mut self, pkts: &'a [&[u8]], slices: &mut Vec<&'a [u8]>) -> Result<usize> {
        let n = pkts.len();
        self.out.resize(n, IovOutput::default());
        self.owner.resize(n, 0);
        slices.clear();
        slices.resize(n, &[]);
        loop {
            match self.gro.coalesce_iov(
                pkts,
                &mut self.out,
                &mut self.owner,
                slices,
                &mut self.headers,
            ) {
                Ok(count) => return Ok(count),
                // The exact need is known now: grow once and coalesce again.
                Err(GroError::HeadersTooShort { need, .. }) if need > self.headers.len() => {
                    self.headers.resize(need, 0);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Packet `k` of the last [`GroIov::coalesce`].
    pub fn output(&self, k: usize) -> Option<IovOutput> {
        self.out.get(k).copied()
    }

    /// Writes packet `o` of the last [`GroIov::coalesce`] (`slices` as it set them) to `dev` with
    /// one `writev`: its virtio-net header in the device's layout and byte order, its header
    /// bytes, its payload slices. Adds to `written` (`copied` before the write: a packet of more
    /// than 1024 pieces is gathered into one buffer whether or not the write then succeeds).
    pub fn write(
        &mut self,
        dev: &Device,
        o: &IovOutput,
        slices: &[&[u8]],
        written: &mut Written,
    ) -> Result<()> {
        let layout: Layout = dev.layout();
        let mut vnet = [0u8; Layout::V1HashTunnel.size()];
        let hdr_len = o.hdr.write(&mut vnet, layout, dev.endian())?;
        let vnet = vnet.get(..hdr_len).unwrap_or_default();
        let header = o.header(&self.headers);
        let payload = o.payload(slices);
        let mut iov = recycle(std::mem::take(&mut self.iov));
        iov.push(IoSlice::new(vnet));
        if payload.len() + 2 > IOV_MAX {
            self.gathered.clear();
            self.gathered.extend_from_slice(header);
            for piece in payload {
                self.gathered.extend_from_slice(piece);
            }
            written.copied += self.gathered.len() - header.len();
            iov.push(IoSlice::new(&self.gathered));
        } else {
            iov.push(IoSlice::new(header));
            iov.extend(payload.iter().map(|p| IoSlice::new(p)));
        }
        let expected = vnet.len() + o.len;
        let result = sys::retry_if_interrupted(|| sys::writev(dev.as_fd(), &iov));
        self.iov = recycle(iov);
        let n = result.map_err(Error::io("writev"))?;
        if n != expected {
            return Err(Error::ShortWrite {
                written: n,
                expected,
            });
        }
        written.packets += 1;
        written.bytes += o.len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write` reuses one iovec list: recycling keeps the allocation.
    #[test]
    fn recycle_keeps_the_allocation() {
        let bytes = [1u8, 2, 3];
        let mut v = Vec::with_capacity(130);
        v.push(IoSlice::new(&bytes));
        let (at, capacity) = (v.as_ptr() as usize, v.capacity());
        let again: Vec<IoSlice<'static>> = recycle(v);
        assert!(again.is_empty());
        assert_eq!((again.as_ptr() as usize, again.capacity()), (at, capacity));
    }
}
