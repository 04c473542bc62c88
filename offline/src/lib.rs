//! Economists' offline tools: a reallocation round and a sealed-bid auction from files, with no
//! database and no server, on the same pure cores the registry runs (`optimizer::allocate`,
//! `market::auction::clear_revealed`), so a file run and a registry run of the same input agree.
//!
//! This crate owns the file formats of those tools (documented in `optimizer/examples/README.md`):
//! - [`round`]: applications and pools as CSV (the files `shared/peers/realloc_instance.py`
//!   writes, as they are) or a whole `optimizer::Round` as JSON/TOML, in; [`round::report`]:
//!   grants CSV, pool prices CSV and the summary, out.
//! - [`auction`]: the auction's rules (TOML/JSON) and bids (CSV/JSON) in; awards CSV and the
//!   clearing summary out.
//!
//! Every table is read and written by the `csv` crate (quoted fields, commas and Chinese names
//! round-trip). Quantities and prices are exact decimals: more places than a pollutant's scale or
//! the price tick is refused with the file, line and column, never rounded. Readers take
//! `impl Read` and writers `impl Write`; opening files, clocks and hashing of inputs are the
//! caller's (the `ets` CLI).

pub mod auction;
mod document;
mod error;
pub mod round;
mod table;

pub use error::FormatError;
