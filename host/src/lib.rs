//! vnet-host: Linux TUN/TAP devices with virtio-net headers and offloads, around vnet-core.
