//! vnet-cli: the `vnet` program and its oracle front end.
//!
//! The program (`src/bin/vnet/`) runs `vnet_host::relay` (`vnet demo`, `vnet relay`), prints the
//! probed kernel profile (`vnet kernel`) and answers the oracle's questions (`vnet check |
//! segment | coalesce | csum | inspect`). This library is the oracle: hex or pcap in, one JSON
//! object out per line, so that an implementation in any language can diff itself against
//! vnet-core. It lives here, not in vnet-host, so that library users of vnet-host do not build
//! it. The answers' format is documented in `ORACLE.md`.

pub mod oracle;
