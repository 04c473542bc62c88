//! Test support shared by every crate's storage tests: a fresh PostgreSQL database per call on the
//! server named by `ETS_TEST_PG_URL` (set by `scripts/with-postgres`). With `ETS_REQUIRE_PG=1` a
//! missing URL is an error, never a silent skip.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

use crate::error::LedgerError;

static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A new empty database named `<prefix>_<pid>_<n>`, or `None` when PostgreSQL is not configured.
pub async fn postgres_database(prefix: &str) -> Result<Option<String>, LedgerError> {
    let Ok(admin) = std::env::var("ETS_TEST_PG_URL") else {
        if std::env::var("ETS_REQUIRE_PG").as_deref() == Ok("1") {
            return Err(LedgerError::InvalidField {
                field: "ETS_TEST_PG_URL".into(),
                reason: "ETS_REQUIRE_PG=1 but no PostgreSQL URL is set".into(),
            });
        }
        return Ok(None);
    };
    let mut conn = sqlx::PgConnection::connect(&admin).await?;
    let name = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT_DATABASE.fetch_add(1, Ordering::SeqCst)
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    Ok(Some(format!("{base}/{name}")))
}
