//! Bodies that more than one group of market routes answers with.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SideBody {
    Buy,
    Sell,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DoneBody {
    pub done: bool,
}
