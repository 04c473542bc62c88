//! API keys: `ets_` followed by 48 random hex digits, shown once at creation and stored only as a
//! SHA-256 hash, each bound to one role (and, for an enterprise, to one credit code).

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use utoipa::ToSchema;

use crate::db::{Db, on_db};
use crate::error::ApiError;

/// Every key starts with this, so a leaked key is easy to recognise and scan for.
pub const KEY_PREFIX: &str = "ets_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The environmental bureau: registers, issues, certifies, freezes, reads everything.
    Bureau,
    /// One enterprise: its own accounts only.
    Enterprise,
    /// Read-only: market data and anonymised aggregates, never an enterprise's holdings.
    Economist,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Bureau => "bureau",
            Role::Enterprise => "enterprise",
            Role::Economist => "economist",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "bureau" => Some(Role::Bureau),
            "enterprise" => Some(Role::Enterprise),
            "economist" => Some(Role::Economist),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a valid key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's public id (not secret): the first 16 hex digits of its hash.
    pub key_id: String,
    pub role: Role,
    /// The credit code an enterprise key acts for.
    pub enterprise: Option<String>,
    pub label: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("an enterprise key needs the credit code of the enterprise it acts for")]
    MissingEnterprise,
    #[error("only enterprise keys are bound to a credit code; a {role} key is not")]
    UnexpectedEnterprise { role: Role },
    #[error("a key's label must not be empty")]
    EmptyLabel,
    #[error("--enterprise {code:?} is not a valid unified social credit code: {reason}")]
    InvalidEnterprise { code: String, reason: String },
    #[error(
        "enterprise {code} is not in the register; the bureau registers it first (POST /v1/enterprises)"
    )]
    UnregisteredEnterprise { code: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<sqlx::Error> for KeyError {
    fn from(error: sqlx::Error) -> Self {
        KeyError::Api(ApiError::Storage(error))
    }
}

/// The stored form of a key: its SHA-256 as hex.
pub fn hash_key(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

/// Creates a key in the database at `db_url` (creating the API's tables if needed) and returns
/// the plaintext, which is stored nowhere: `ets admin create-key` prints it once.
pub async fn create_key(
    db_url: &str,
    role: Role,
    enterprise: Option<&str>,
    label: &str,
) -> Result<String, KeyError> {
    match (role, enterprise) {
        (Role::Enterprise, None) => return Err(KeyError::MissingEnterprise),
        (Role::Enterprise, Some(code)) if code.trim().is_empty() => {
            return Err(KeyError::MissingEnterprise);
        }
        (Role::Bureau | Role::Economist, Some(_)) => {
            return Err(KeyError::UnexpectedEnterprise { role });
        }
        _ => {}
    }
    if label.trim().is_empty() {
        return Err(KeyError::EmptyLabel);
    }
    if let Some(code) = enterprise {
        check_registered(db_url, code).await?;
    }
    let db = Db::open(db_url).await?;
    let plaintext = new_plaintext();
    insert_key(&db, &plaintext, role, enterprise, label).await?;
    Ok(plaintext)
}

/// Refuses a credit code that is malformed (GB 32100 check characters) or not in the register:
/// a key for nobody would act for whoever is registered under that code later.
async fn check_registered(db_url: &str, code: &str) -> Result<(), KeyError> {
    let code = ledger::enterprise::CreditCode::parse(code).map_err(|error| {
        KeyError::InvalidEnterprise {
            code: code.to_owned(),
            reason: error.to_string(),
        }
    })?;
    let ledger = ledger::Ledger::open(db_url, ledger::LedgerOptions::default())
        .await
        .map_err(ApiError::Ledger)?;
    let registered = ledger
        .store()
        .enterprises()
        .await
        .map_err(ApiError::Ledger)?
        .iter()
        .any(|enterprise| enterprise.credit_code == code);
    if registered {
        Ok(())
    } else {
        Err(KeyError::UnregisteredEnterprise {
            code: code.as_str().to_owned(),
        })
    }
}

/// Revokes the key with public id `key_id`; true if there was such a live key.
pub async fn revoke_key(db_url: &str, key_id: &str) -> Result<bool, KeyError> {
    let db = Db::open(db_url).await?;
    let now = ledger::journal::format_time(chrono::Utc::now());
    let sql = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
    let done = on_db!(&db, |pool| sqlx::query(sql)
        .bind(now)
        .bind(key_id)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(done == 1)
}

fn new_plaintext() -> String {
    let mut secret = [0_u8; 24];
    rand::rng().fill_bytes(&mut secret);
    format!("{KEY_PREFIX}{}", hex::encode(secret))
}

pub(crate) async fn insert_key(
    db: &Db,
    plaintext: &str,
    role: Role,
    enterprise: Option<&str>,
    label: &str,
) -> Result<(), sqlx::Error> {
    let hash = hash_key(plaintext);
    let id = hash[..16].to_owned();
    let now = ledger::journal::format_time(chrono::Utc::now());
    let sql = "INSERT INTO api_keys (id, hash, role, enterprise, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
    on_db!(db, |pool| sqlx::query(sql)
        .bind(&id)
        .bind(&hash)
        .bind(role.as_str())
        .bind(enterprise)
        .bind(label)
        .bind(&now)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(())
}

/// The live key whose hash is `hash`, if any.
pub(crate) async fn find_by_hash(db: &Db, hash: &str) -> Result<Option<Principal>, ApiError> {
    let sql =
        "SELECT id, role, enterprise, label FROM api_keys WHERE hash = $1 AND revoked_at IS NULL";
    let row = on_db!(db, |pool| {
        match sqlx::query(sql).bind(hash).fetch_optional(pool).await? {
            Some(row) => Some((
                row.try_get::<String, _>("id")?,
                row.try_get::<String, _>("role")?,
                row.try_get::<Option<String>, _>("enterprise")?,
                row.try_get::<String, _>("label")?,
            )),
            None => None,
        }
    });
    let Some((key_id, role, enterprise, label)) = row else {
        return Ok(None);
    };
    let role = Role::parse(&role)
        .ok_or_else(|| ApiError::Internal(format!("key {key_id} has unknown role {role:?}")))?;
    Ok(Some(Principal {
        key_id,
        role,
        enterprise,
        label,
    }))
}
