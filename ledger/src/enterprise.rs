//! Enterprise register (being written).
