//! What every view shares, written once: smoltcp's constructor shape and the accessors that are a
//! plain big-endian read or write of one field at a fixed offset. Each view's module keeps what is
//! its own: `check_len`, the derived lengths, the payload bounds.

/// A view struct over a buffer with `new_unchecked`, `new_checked` and `into_inner`; the view's
/// module supplies `check_len`, which starts with `fixed_header` (the buffer holds the `fixed:`
/// layer's fixed header), and `payload_range`, which `payload` and `payload_mut` read (an
/// out-of-bounds range reads as empty, so no panic without `check_len`). `emit:` ends the
/// sentence on why `new_checked` is not for the emit path (which fields a reused buffer may hold
/// stale).
macro_rules! view {
    (
        $(#[$doc:meta])* $name:ident,
        emit: $emit:literal,
        fixed: ($layer:expr, $fixed:expr) $(,)?
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps `buffer` without checking it. Accessors will not panic, but may return zeros.
            pub const fn new_unchecked(buffer: T) -> Self {
                Self { buffer }
            }

            /// Wraps `buffer` and [`check_len`](Self::check_len)s it.
            ///
            #[doc = concat!("Not for the emit path: a reused buffer may hold ", $emit)]
            pub fn new_checked(buffer: T) -> Result<Self, Error> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            /// Gives back the buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }

            /// The payload: everything after the header, up to the end the header's length field
            /// gives where it has one (IPv4 `total_len`, IPv6 `payload_len`, UDP `length`: padding
            /// beyond it excluded), else to the end of the buffer.
            pub fn payload(&self) -> &[u8] {
                self.buffer.as_ref().get(self.payload_range()).unwrap_or(&[])
            }

            /// The buffer's length, once it is known to hold the fixed header.
            fn fixed_header(&self) -> Result<usize, Error> {
                let have = self.buffer.as_ref().len();
                ensure_len($layer, $fixed, have)?;
                Ok(have)
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            /// The payload, mutably (same bounds as [`payload`](Self::payload)).
            pub fn payload_mut(&mut self) -> &mut [u8] {
                let range = self.payload_range();
                self.buffer.as_mut().get_mut(range).unwrap_or(&mut [])
            }
        }
    };
}

/// Getters that return one field as stored: `name -> type = read(offset);`, where `read` is
/// `get8`, `get16`, `get32` or `get_array` (missing bytes read as zeros).
macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident -> $ty:ty = $get:ident($at:expr);)*) => {$(
        $(#[$doc])*
        pub fn $name(&self) -> $ty {
            $get(self.buffer.as_ref(), $at)
        }
    )*};
}

/// Setters that store one integer field big-endian: `name(type) = offset;` (missing bytes are not
/// written).
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($ty:ty) = $at:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(&mut self, value: $ty) {
            put_bytes(self.buffer.as_mut(), $at, &value.to_be_bytes());
        }
    )*};
}
