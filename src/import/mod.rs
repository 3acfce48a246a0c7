//! Moving to Usher from another portal.

pub mod organizr;
