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
