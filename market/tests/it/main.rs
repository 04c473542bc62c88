//! Integration tests of the market crate: one binary, one module per feature.

mod auction_cases;
mod auction_props;
mod book_cases;
mod book_props;
mod common;
mod transfers;
