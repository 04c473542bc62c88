//! Who owns which hold codes. A component that derives hold codes (the market names its holds
//! `mkt.order.<instrument>.<order>`, `mkt.transfer-rights.<n>`, `mkt.auction-bid.<auction>.<n>`,
//! `mkt.auction-supply.<auction>`, …) owns the namespace they live in: a caller who takes the next
//! code first blocks that component for good, since a hold code is used once. The ledger does not
//! know who is asking (the actor is the caller's word), so it does not enforce this itself: the
//! API refuses, with [`check_hold_code`], any raw request that places, posts or voids a hold in a
//! namespace its caller does not own. The bureau's recovery for a code already taken is
//! [`crate::Action::ReleaseHoldCode`].

use crate::error::LedgerError;

/// A part of the system that derives its own hold codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Market,
}

impl Component {
    pub fn name(self) -> &'static str {
        match self {
            Component::Market => "market",
        }
    }
}

/// A hold-code prefix and the component that owns every code starting with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedPrefix {
    pub prefix: &'static str,
    pub owner: Component,
}

/// Every reserved prefix. Codes are case-sensitive, so `MKT.order.1.2` is not reserved (nor
/// does it collide with anything the market uses).
pub const RESERVED_PREFIXES: &[ReservedPrefix] = &[ReservedPrefix {
    prefix: "mkt.",
    owner: Component::Market,
}];

/// Where a hold code lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// Owned by a component: only it may place, post or void such holds (the bureau may still
    /// release a stuck one with `release_hold_code`).
    Reserved(ReservedPrefix),
    /// Anyone's: callers choose such codes freely.
    Open,
}

/// The namespace of a hold code.
pub fn hold_namespace(code: &str) -> Namespace {
    RESERVED_PREFIXES
        .iter()
        .find(|reserved| code.starts_with(reserved.prefix))
        .map_or(Namespace::Open, |reserved| Namespace::Reserved(*reserved))
}

/// Refuses `code` unless it is open or owned by `caller` (`None`: a caller that is no
/// component, such as a bureau or enterprise key on the raw request endpoint).
pub fn check_hold_code(code: &str, caller: Option<Component>) -> Result<(), LedgerError> {
    match hold_namespace(code) {
        Namespace::Reserved(reserved) if Some(reserved.owner) != caller => {
            Err(LedgerError::ReservedHoldCode {
                hold: code.to_owned(),
                owner: reserved.owner.name(),
                prefix: reserved.prefix,
            })
        }
        _ => Ok(()),
    }
}

/// The hold code an action places, posts, voids or releases, if any: what the API checks with
/// [`check_hold_code`].
pub fn hold_of(action: &crate::Action) -> Option<&str> {
    use crate::Action;
    match action {
        Action::PlaceHold { hold, .. }
        | Action::PostHold { hold, .. }
        | Action::VoidHold { hold }
        | Action::ReleaseHoldCode { hold, .. } => Some(hold),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_codes_are_reserved_for_the_market_only() {
        for code in [
            "mkt.order.1.4294967301",
            "mkt.transfer-rights.7",
            "mkt.auction-bid.3.9",
            "mkt.auction-supply.3",
        ] {
            assert!(matches!(
                hold_namespace(code),
                Namespace::Reserved(ReservedPrefix {
                    owner: Component::Market,
                    ..
                })
            ));
            assert!(check_hold_code(code, Some(Component::Market)).is_ok());
            let refused = check_hold_code(code, None).unwrap_err();
            assert_eq!(
                refused.to_string(),
                format!(
                    "hold code {code:?} is reserved for the market (namespace \"mkt.\"); use a code outside it"
                )
            );
        }
        for code in ["trade-1-rights", "mkt", "mktx.order.1", "MKT.order.1.2"] {
            assert_eq!(hold_namespace(code), Namespace::Open);
            assert!(check_hold_code(code, None).is_ok());
        }
    }
}
