//! scenarios crate (work in progress).
