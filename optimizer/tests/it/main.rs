//! Integration tests: hand-checkable rules, property tests and equivalence with plain HiGHS.

mod equivalence;
mod fixture;
mod properties;
mod rules;
