//! The versioned schema of each backend, embedded in the binary and run by sqlx's migrator
//! (which records versions and checksums in `_sqlx_migrations` and, on PostgreSQL, takes an
//! advisory lock so that nodes starting together migrate once).

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "browser flows",
        include_str!("../migrations/sqlite/0002_browser_flows.sql"),
    ),
    (
        3,
        "token exchange",
        include_str!("../migrations/sqlite/0003_token_exchange.sql"),
    ),
    (
        4,
        "medmij",
        include_str!("../migrations/sqlite/0004_medmij.sql"),
    ),
    (
        5,
        "consent per api",
        include_str!("../migrations/sqlite/0005_consent_per_api.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "browser flows",
        include_str!("../migrations/postgres/0002_browser_flows.sql"),
    ),
    (
        3,
        "token exchange",
        include_str!("../migrations/postgres/0003_token_exchange.sql"),
    ),
    (
        4,
        "medmij",
        include_str!("../migrations/postgres/0004_medmij.sql"),
    ),
    (
        5,
        "consent per api",
        include_str!("../migrations/postgres/0005_consent_per_api.sql"),
    ),
];

fn migrator(list: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        list.iter()
            .map(|(v, d, sql)| {
                Migration::new(
                    *v,
                    Cow::Borrowed(*d),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migration 0005 keeps a per-client consent only when it can be attributed: one that holds
    /// nothing but OpenID Connect scopes becomes a consent without an API; one that holds any
    /// API's scope is dropped, since it cannot be told which API it was for (issue 10, item 2).
    #[tokio::test]
    async fn consents_that_cannot_be_attributed_to_an_api_are_dropped() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        migrator(&SQLITE[..4]).run(&pool).await.unwrap();
        for (client, scope) in [
            ("oidc-only", "email offline_access openid profile"),
            ("mixed", "openid orders:read"),
            ("api-only", "orders:read"),
            ("lookalike", "openid openid-extra"),
        ] {
            sqlx::query(
                "INSERT INTO consents (subject, client_id, scope, granted_at, expires_at) \
                 VALUES ('s', $1, $2, 1, 2)",
            )
            .bind(client)
            .bind(scope)
            .execute(&pool)
            .await
            .unwrap();
        }
        migrator(SQLITE).run(&pool).await.unwrap();
        let kept: Vec<(String, String, String)> =
            sqlx::query_as("SELECT client_id, api, scope FROM consents ORDER BY client_id")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            kept,
            vec![(
                "oidc-only".to_owned(),
                String::new(),
                "email offline_access openid profile".to_owned()
            )]
        );
    }
}
