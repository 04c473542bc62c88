//! Reallocation rounds: ledger reserve → optimizer → ledger grants (being written).
