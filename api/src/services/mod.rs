//! Application services: the glue between the ledger and the pure cores, used by HTTP handlers
//! and the CLI alike.

pub mod applications;
pub mod duties;
pub mod market;
pub mod reallocation;
pub mod rounds;
