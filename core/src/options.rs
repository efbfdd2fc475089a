//! The options structs' constructors (`check`'s and `gso`'s), written once: `new()` and
//! `Default` are the struct's `DEFAULT` const, and each field a caller sets alone gets a const
//! builder `with_x(self, x)`, so options can be built in a `const` or `static`.

/// `new()`, `Default` and the `with_x` builders for an options struct with a `DEFAULT` const.
macro_rules! options {
    ($t:ident { $($(#[$doc:meta])* $with:ident($field:ident: $ty:ty);)* }) => {
        impl $t {
            #[doc = concat!("[`", stringify!($t), "::DEFAULT`].")]
            pub const fn new() -> $t {
                $t::DEFAULT
            }

            $(
                $(#[$doc])*
                #[must_use]
                pub const fn $with(self, $field: $ty) -> $t {
                    $t { $field, ..self }
                }
            )*
        }

        impl Default for $t {
            fn default() -> $t {
                $t::DEFAULT
            }
        }
    };
}
