//! market crate (work in progress).
