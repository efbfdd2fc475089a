//! Proptest strategies, in one home: `*_any()` generates any value of a kind, `*_with(..)` one
//! constrained by its arguments.

pub mod train;
