//! ledger crate (work in progress).
