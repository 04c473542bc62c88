//! One router per area. Each returns a `utoipa_axum` router, so its paths and schemas join the
//! OpenAPI document as they join the server. Market and optimizer (reallocation) routers are
//! added here the same way.

pub mod applications;
pub mod audit;
pub mod market;
pub mod reads;
pub mod rounds;
pub mod scenarios;
pub mod statistics;
pub mod submit;
pub mod system;
pub mod writes;
