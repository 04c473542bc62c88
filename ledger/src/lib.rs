//! The system of record: every discharge right, carbon quota, offset credit and yuan of settlement cash.
pub mod enterprise;
