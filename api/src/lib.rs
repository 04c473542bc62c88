//! api crate (work in progress).
