//! vnet-spec: the executable specification of vnet.
