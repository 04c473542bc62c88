//! optimizer crate (work in progress).
