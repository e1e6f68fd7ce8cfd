//! The SQL, written once and instantiated for both drivers. Placeholders are `$n`, which both
//! SQLite and PostgreSQL bind by number.

macro_rules! backend {
    ($name:ident, $db:ty, $pool:ty) => {
        pub(crate) mod $name {
            use serde_json::Value;
            use wissel_core::InternalError;
            use wissel_core::grant::{
                AttemptBudget, CodeOutcome, CodeRecord, Consent, FailureCount, Grant, Interaction,
                MedmijConsent, RefreshRecord, Reservation, RotateOutcome, Session, StoredList,
            };
            use wissel_core::model::{
                AccessToken, Api, ApplyReport, Authorization, Client, Digest, Grantee, KeyState,
                Link, Provisioning, Registry, Revocation, RevocationKind, SigningAlg,
                SigningKeyRecord, TokenFormat, User,
            };
            use wissel_core::ports::{Missing, PutOutcome, StoreResult};
            use wissel_core::scope::ScopeSet;

            use crate::internal;

            type Db = $db;
            type Pool = $pool;

            fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
                serde_json::to_string(v).map_err(internal)
            }
            fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> StoreResult<T> {
                serde_json::from_str(s).map_err(|e| InternalError::new(format!("stored {what} is unreadable: {e}")))
            }

            /// The `derivation` column: NULL for a token that carries nothing beyond the basics.
            fn derivation_json(t: &AccessToken) -> StoreResult<Option<String>> {
                if t.derivation.is_empty() { Ok(None) } else { to_json(&t.derivation).map(Some) }
            }

            /// A scope column: the rendered set, empty for none.
            fn parse_scope(stored: &str) -> StoreResult<ScopeSet> {
                if stored.is_empty() {
                    Ok(ScopeSet::new())
                } else {
                    ScopeSet::parse(stored).map_err(|e| InternalError::new(format!("stored scope: {e}")))
                }
            }

            /// A digest column.
            fn parse_digest(stored: Vec<u8>) -> StoreResult<Digest> {
                <[u8; 32]>::try_from(stored)
                    .map(Digest)
                    .map_err(|d| InternalError::new(format!("stored digest has {} bytes", d.len())))
            }

            /// `$first, $first + 1, …` for `n` bound values: the only text formatted into SQL.
            fn placeholders(first: usize, n: usize) -> String {
                (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
            }

            pub(crate) async fn ping(pool: &Pool) -> StoreResult<()> {
                sqlx::query::<Db>("SELECT 1").execute(pool).await.map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn generation(pool: &Pool) -> StoreResult<i64> {
                let (g,): (i64,) = sqlx::query_as::<Db, (i64,)>("SELECT value FROM meta WHERE key = 'generation'")
                    .fetch_one(pool)
                    .await
                    .map_err(internal)?;
                Ok(g)
            }

            async fn bump<'c, E: sqlx::Executor<'c, Database = Db>>(e: E) -> StoreResult<()> {
                sqlx::query::<Db>("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
                    .execute(e)
                    .await
                    .map_err(internal)?;
                Ok(())
            }

            /// Every JSON document a query selects, decoded.
            async fn documents<T: serde::de::DeserializeOwned>(
                tx: &mut sqlx::Transaction<'_, Db>,
                select: &'static str,
                what: &str,
            ) -> StoreResult<Vec<T>> {
                let rows = sqlx::query_as::<Db, (String,)>(select).fetch_all(&mut **tx).await.map_err(internal)?;
                rows.iter().map(|(d,)| from_json::<T>(what, d)).collect()
            }

            /// Commits a conditional change, bumping the generation only when it happened.
            async fn commit_change(mut tx: sqlx::Transaction<'_, Db>, done: bool) -> StoreResult<bool> {
                if done {
                    bump(&mut *tx).await?;
                }
                tx.commit().await.map_err(internal)?;
                Ok(done)
            }

            pub(crate) async fn load_registry(pool: &Pool) -> StoreResult<Registry> {
                // One read transaction, so the snapshot and its generation agree.
                let mut tx = pool.begin().await.map_err(internal)?;
                let (generation,): (i64,) =
                    sqlx::query_as::<Db, (i64,)>("SELECT value FROM meta WHERE key = 'generation'")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(internal)?;
                let clients = documents::<Client>(&mut tx, "SELECT data FROM clients", "client").await?;
                let apis = documents::<Api>(&mut tx, "SELECT data FROM apis", "api").await?;
                let links = documents::<Link>(&mut tx, "SELECT data FROM links", "link").await?;
                tx.commit().await.map_err(internal)?;
                Ok(Registry::new(generation, clients, apis, links))
            }

            /// Upserts one JSON document; returns 0 unchanged, 1 created, 2 updated.
            async fn upsert(
                tx: &mut sqlx::Transaction<'_, Db>,
                select: &'static str,
                insert: &'static str,
                keys: &[&str],
                data: &str,
                now: i64,
            ) -> StoreResult<u8> {
                let mut q = sqlx::query_as::<Db, (String,)>(select);
                for k in keys {
                    q = q.bind(k.to_string());
                }
                let existing = q.fetch_optional(&mut **tx).await.map_err(internal)?;
                let state = match existing {
                    Some((d,)) if d == data => return Ok(0),
                    Some(_) => 2,
                    None => 1,
                };
                let mut q = sqlx::query::<Db>(insert);
                for k in keys {
                    q = q.bind(k.to_string());
                }
                q.bind(data.to_string()).bind(now).execute(&mut **tx).await.map_err(internal)?;
                Ok(state)
            }

            pub(crate) async fn apply(pool: &Pool, plan: &Provisioning, now: i64) -> StoreResult<ApplyReport> {
                let mut tx = pool.begin().await.map_err(internal)?;
                let mut report = ApplyReport::default();
                let mut count = |s: u8| match s {
                    0 => report.unchanged += 1,
                    1 => report.created += 1,
                    _ => report.updated += 1,
                };
                let mut config_changed = false;
                for c in &plan.clients {
                    let s = upsert(&mut tx, "SELECT data FROM clients WHERE id = $1",
                        "INSERT INTO clients (id, data, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                        &[&c.id], &to_json(c)?, now).await?;
                    config_changed |= s != 0;
                    count(s);
                }
                for a in &plan.apis {
                    let s = upsert(&mut tx, "SELECT data FROM apis WHERE id = $1",
                        "INSERT INTO apis (id, data, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                        &[&a.id], &to_json(a)?, now).await?;
                    config_changed |= s != 0;
                    count(s);
                }
                for l in &plan.links {
                    let s = upsert(&mut tx, "SELECT data FROM links WHERE client_id = $1 AND api_id = $2",
                        "INSERT INTO links (client_id, api_id, data, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (client_id, api_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                        &[&l.client, &l.api], &to_json(l)?, now).await?;
                    config_changed |= s != 0;
                    count(s);
                }
                for u in &plan.users {
                    // The subject of an existing user is kept: it is the user's stable identity.
                    let existing = sqlx::query_as::<Db, (String, String)>("SELECT subject, data FROM users WHERE username = $1")
                        .bind(&u.username)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(internal)?;
                    let mut user = u.clone();
                    if let Some((subject, _)) = &existing {
                        user.subject = subject.clone();
                    }
                    let data = to_json(&user)?;
                    match existing {
                        Some((_, d)) if d == data => count(0),
                        existing => {
                            sqlx::query::<Db>(
                                "INSERT INTO users (subject, username, data, updated_at) VALUES ($1, $2, $3, $4) \
                                 ON CONFLICT (subject) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                            )
                            .bind(&user.subject)
                            .bind(&user.username)
                            .bind(&data)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(internal)?;
                            // Nodes cache users (a disabled one must fall everywhere).
                            config_changed |= existing.is_some();
                            count(if existing.is_some() { 2 } else { 1 });
                        }
                    }
                }
                for a in &plan.authorizations {
                    let (kind, name) = match &a.grantee {
                        Grantee::User(n) => ("user", n),
                        Grantee::Group(n) => ("group", n),
                    };
                    let s = upsert(&mut tx,
                        "SELECT data FROM authorizations WHERE grantee_kind = $1 AND grantee = $2 AND api_id = $3",
                        "INSERT INTO authorizations (grantee_kind, grantee, api_id, data, updated_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (grantee_kind, grantee, api_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                        &[kind, name, &a.api], &to_json(a)?, now).await?;
                    // Nodes cache users' access: a changed authorization must reach them too.
                    config_changed |= s != 0;
                    count(s);
                }
                if config_changed {
                    bump(&mut *tx).await?;
                }
                tx.commit().await.map_err(internal)?;
                Ok(report)
            }

            pub(crate) async fn create_client(pool: &Pool, client: &Client, now: i64) -> StoreResult<bool> {
                let mut tx = pool.begin().await.map_err(internal)?;
                let taken = sqlx::query_as::<Db, (String,)>("SELECT id FROM apis WHERE id = $1")
                    .bind(&client.id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(internal)?;
                if taken.is_some() {
                    return Ok(false);
                }
                let done = sqlx::query::<Db>(
                    "INSERT INTO clients (id, data, updated_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&client.id)
                .bind(to_json(client)?)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(internal)?
                .rows_affected()
                    == 1;
                commit_change(tx, done).await
            }

            /// The user one query (by username or by subject) finds.
            async fn one_user(pool: &Pool, select: &'static str, key: &str) -> StoreResult<Option<User>> {
                let row = sqlx::query_as::<Db, (String,)>(select)
                    .bind(key)
                    .fetch_optional(pool)
                    .await
                    .map_err(internal)?;
                row.map(|(d,)| from_json("user", &d)).transpose()
            }

            pub(crate) async fn find_user(pool: &Pool, username: &str) -> StoreResult<Option<User>> {
                one_user(pool, "SELECT data FROM users WHERE username = $1", username).await
            }

            // ---- Links and authorizations, one at a time (the CLI) ----

            /// True when the query (one bound key) finds a row.
            async fn exists(tx: &mut sqlx::Transaction<'_, Db>, select: &'static str, key: &str) -> StoreResult<bool> {
                let row = sqlx::query_as::<Db, (String,)>(select)
                    .bind(key)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(internal)?;
                Ok(row.is_some())
            }

            /// The `(grantee_kind, grantee)` key of an authorization.
            fn grantee_key(g: &Grantee) -> (&'static str, &str) {
                match g {
                    Grantee::User(n) => ("user", n),
                    Grantee::Group(n) => ("group", n),
                }
            }

            /// Upserts in `tx` and commits, bumping the generation only on a change.
            async fn put_one(
                mut tx: sqlx::Transaction<'_, Db>,
                select: &'static str,
                insert: &'static str,
                keys: &[&str],
                data: &str,
                now: i64,
            ) -> StoreResult<PutOutcome> {
                let outcome = match upsert(&mut tx, select, insert, keys, data, now).await? {
                    0 => PutOutcome::Unchanged,
                    1 => PutOutcome::Created,
                    _ => PutOutcome::Replaced,
                };
                commit_change(tx, outcome != PutOutcome::Unchanged).await?;
                Ok(outcome)
            }

            pub(crate) async fn put_link(pool: &Pool, link: &Link, now: i64) -> StoreResult<PutOutcome> {
                let mut tx = pool.begin().await.map_err(internal)?;
                if !exists(&mut tx, "SELECT id FROM clients WHERE id = $1", &link.client).await? {
                    return Ok(PutOutcome::Missing(Missing::Client));
                }
                if !exists(&mut tx, "SELECT id FROM apis WHERE id = $1", &link.api).await? {
                    return Ok(PutOutcome::Missing(Missing::Api));
                }
                put_one(tx, "SELECT data FROM links WHERE client_id = $1 AND api_id = $2",
                    "INSERT INTO links (client_id, api_id, data, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (client_id, api_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                    &[&link.client, &link.api], &to_json(link)?, now).await
            }

            pub(crate) async fn delete_link(pool: &Pool, client: &str, api: &str, _now: i64) -> StoreResult<bool> {
                let mut tx = pool.begin().await.map_err(internal)?;
                let done = sqlx::query::<Db>("DELETE FROM links WHERE client_id = $1 AND api_id = $2")
                    .bind(client)
                    .bind(api)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?
                    .rows_affected()
                    == 1;
                commit_change(tx, done).await
            }

            pub(crate) async fn put_authorization(pool: &Pool, a: &Authorization, now: i64) -> StoreResult<PutOutcome> {
                let mut tx = pool.begin().await.map_err(internal)?;
                if !exists(&mut tx, "SELECT id FROM apis WHERE id = $1", &a.api).await? {
                    return Ok(PutOutcome::Missing(Missing::Api));
                }
                let (kind, name) = grantee_key(&a.grantee);
                if kind == "user" && !exists(&mut tx, "SELECT subject FROM users WHERE username = $1", name).await? {
                    return Ok(PutOutcome::Missing(Missing::User));
                }
                put_one(tx,
                    "SELECT data FROM authorizations WHERE grantee_kind = $1 AND grantee = $2 AND api_id = $3",
                    "INSERT INTO authorizations (grantee_kind, grantee, api_id, data, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (grantee_kind, grantee, api_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                    &[kind, name, &a.api], &to_json(a)?, now).await
            }

            pub(crate) async fn delete_authorization(pool: &Pool, grantee: &Grantee, api: &str, _now: i64) -> StoreResult<bool> {
                let (kind, name) = grantee_key(grantee);
                let mut tx = pool.begin().await.map_err(internal)?;
                let done = sqlx::query::<Db>(
                    "DELETE FROM authorizations WHERE grantee_kind = $1 AND grantee = $2 AND api_id = $3",
                )
                .bind(kind)
                .bind(name)
                .bind(api)
                .execute(&mut *tx)
                .await
                .map_err(internal)?
                .rows_affected()
                    == 1;
                commit_change(tx, done).await
            }

            pub(crate) async fn list_authorizations(pool: &Pool, api: Option<&str>) -> StoreResult<Vec<Authorization>> {
                let rows = sqlx::query_as::<Db, (String,)>(
                    "SELECT data FROM authorizations WHERE ($1 IS NULL OR api_id = $1)",
                )
                .bind(api)
                .fetch_all(pool)
                .await
                .map_err(internal)?;
                let mut list = rows
                    .iter()
                    .map(|(d,)| from_json::<Authorization>("authorization", d))
                    .collect::<StoreResult<Vec<_>>>()?;
                // Sorted here, not by the database: the same byte order whatever its collation.
                list.sort_by(|a, b| {
                    let key = |x: &Authorization| {
                        let (kind, name) = grantee_key(&x.grantee);
                        (x.api.clone(), kind == "group", name.to_owned())
                    };
                    key(a).cmp(&key(b))
                });
                Ok(list)
            }

            /// Inserts several tokens in one transaction (SQLite group commit), with multi-row
            /// statements of a few fixed sizes so that their prepared forms stay cached.
            #[allow(dead_code)] // used by the SQLite token writer only
            pub(crate) async fn insert_access_tokens(pool: &Pool, items: &[(Digest, AccessToken)]) -> StoreResult<()> {
                let mut tx = pool.begin().await.map_err(internal)?;
                let mut rest = items;
                while !rest.is_empty() {
                    let n = [64, 16, 4, 1].into_iter().find(|n| *n <= rest.len()).unwrap_or(1);
                    let (chunk, tail) = rest.split_at(n.min(rest.len()));
                    insert_rows(&mut *tx, chunk).await?;
                    rest = tail;
                }
                tx.commit().await.map_err(internal)
            }

            /// One multi-row insert. Only placeholders are formatted into the text; every value
            /// is bound.
            async fn insert_rows<'c, E: sqlx::Executor<'c, Database = Db>>(e: E, items: &[(Digest, AccessToken)]) -> StoreResult<()> {
                let mut sql = String::from(
                    "INSERT INTO access_tokens (digest, jti, grant_id, client_id, subject, api_id, scope, issued_at, expires_at, derivation) VALUES ",
                );
                for i in 0..items.len() {
                    let b = i * 10;
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10
                    ));
                }
                let mut q = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql));
                for (d, t) in items {
                    let derivation = derivation_json(t)?;
                    q = q
                        .bind(d.0.to_vec())
                        .bind(t.jti.clone())
                        .bind(t.grant_id.clone())
                        .bind(t.client_id.clone())
                        .bind(t.subject.clone())
                        .bind(t.api.clone())
                        .bind(t.scope.to_string())
                        .bind(t.issued_at)
                        .bind(t.expires_at)
                        .bind(derivation);
                }
                q.execute(e).await.map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn insert_access_token(pool: &Pool, digest: &Digest, t: &AccessToken) -> StoreResult<()> {
                insert_rows(pool, &[(*digest, t.clone())]).await
            }

            pub(crate) async fn find_access_token(pool: &Pool, digest: &Digest) -> StoreResult<Option<(AccessToken, bool)>> {
                type Row = (String, String, String, String, String, String, i64, i64, Option<i64>, Option<String>);
                let row = sqlx::query_as::<Db, Row>(
                    "SELECT jti, grant_id, client_id, subject, api_id, scope, issued_at, expires_at, revoked_at, derivation \
                     FROM access_tokens WHERE digest = $1",
                )
                .bind(digest.0.to_vec())
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                let Some((jti, grant_id, client_id, subject, api, scope, issued_at, expires_at, revoked_at, derivation)) = row else {
                    return Ok(None);
                };
                let scope = parse_scope(&scope)?;
                let derivation = match derivation {
                    Some(d) => from_json("token derivation", &d)?,
                    None => Default::default(),
                };
                let token = AccessToken {
                    jti, grant_id, client_id, subject, api, scope, issued_at, expires_at,
                    format: TokenFormat::Opaque,
                    derivation,
                };
                Ok(Some((token, revoked_at.is_some())))
            }

            /// Records a revocation. A second record of the same one that covers longer-lived
            /// tokens extends it (and is read again by every node, through `revoked_at`); one
            /// that ends sooner changes nothing.
            async fn insert_revocation<'c, E: sqlx::Executor<'c, Database = Db>>(e: E, r: &Revocation, now: i64) -> StoreResult<()> {
                sqlx::query::<Db>(
                    "INSERT INTO revocations (kind, id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (kind, id) DO UPDATE SET expires_at = excluded.expires_at, revoked_at = excluded.revoked_at \
                     WHERE revocations.expires_at < excluded.expires_at",
                )
                .bind(r.kind.as_str())
                .bind(&r.id)
                .bind(r.expires_at)
                .bind(now)
                .execute(e)
                .await
                .map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn revoke(pool: &Pool, r: &Revocation, opaque: Option<&Digest>, now: i64) -> StoreResult<()> {
                let mut tx = pool.begin().await.map_err(internal)?;
                insert_revocation(&mut *tx, r, now).await?;
                if let Some(d) = opaque {
                    sqlx::query::<Db>("UPDATE access_tokens SET revoked_at = $2 WHERE digest = $1 AND revoked_at IS NULL")
                        .bind(d.0.to_vec())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                }
                tx.commit().await.map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn revocations_since(pool: &Pool, after_seq: i64, since: i64) -> StoreResult<Vec<(i64, Revocation)>> {
                let rows = sqlx::query_as::<Db, (i64, String, String, i64)>(
                    "SELECT seq, kind, id, expires_at FROM revocations WHERE seq > $1 OR revoked_at >= $2 ORDER BY seq",
                )
                .bind(after_seq)
                .bind(since)
                .fetch_all(pool)
                .await
                .map_err(internal)?;
                rows.into_iter()
                    .map(|(seq, kind, id, expires_at)| {
                        let kind = match kind.as_str() {
                            "token" => RevocationKind::Token,
                            "grant" => RevocationKind::Grant,
                            other => return Err(InternalError::new(format!("stored revocation kind {other}"))),
                        };
                        Ok((seq, Revocation { kind, id, expires_at }))
                    })
                    .collect()
            }

            pub(crate) async fn record_jti(pool: &Pool, issuer: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
                let done = sqlx::query::<Db>(
                    "INSERT INTO used_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (issuer, jti) DO NOTHING",
                )
                .bind(issuer)
                .bind(jti)
                .bind(expires_at)
                .execute(pool)
                .await
                .map_err(internal)?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn purge_expired(pool: &Pool, now: i64, batch: i64) -> StoreResult<u64> {
                let statements: [&'static str; 13] = [
                    "DELETE FROM access_tokens WHERE digest IN \
                     (SELECT digest FROM access_tokens WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM revocations WHERE seq IN \
                     (SELECT seq FROM revocations WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM used_jtis WHERE (issuer, jti) IN \
                     (SELECT issuer, jti FROM used_jtis WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM signing_keys WHERE kid IN (SELECT kid FROM signing_keys \
                     WHERE state = 'retired' AND publish_until < $1 LIMIT $2)",
                    "DELETE FROM interactions WHERE id IN \
                     (SELECT id FROM interactions WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM sessions WHERE digest IN \
                     (SELECT digest FROM sessions WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM consents WHERE (subject, client_id, api) IN \
                     (SELECT subject, client_id, api FROM consents WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM auth_codes WHERE digest IN \
                     (SELECT digest FROM auth_codes WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM refresh_tokens WHERE digest IN \
                     (SELECT digest FROM refresh_tokens WHERE expires_at < $1 LIMIT $2)",
                    // Revoked or not: an expired grant has nothing left to protect.
                    "DELETE FROM grants WHERE id IN \
                     (SELECT id FROM grants WHERE expires_at < $1 LIMIT $2)",
                    // Failure windows are short; a day-old one counts for nothing.
                    "DELETE FROM login_failures WHERE key IN \
                     (SELECT key FROM login_failures WHERE window_start < $1 - 86400 LIMIT $2)",
                    "DELETE FROM issued_values WHERE digest IN \
                     (SELECT digest FROM issued_values WHERE keep_until < $1 LIMIT $2)",
                    "DELETE FROM medmij_consents WHERE id IN \
                     (SELECT id FROM medmij_consents WHERE expires_at < $1 LIMIT $2)",
                ];
                let mut total = 0;
                for s in statements {
                    total += sqlx::query::<Db>(s)
                        .bind(now)
                        .bind(batch)
                        .execute(pool)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                }
                Ok(total)
            }

            pub(crate) async fn medmij_list(pool: &Pool, kind: &str) -> StoreResult<Option<StoredList>> {
                let row = sqlx::query_as::<Db, (String, i64, String, Vec<u8>, i64)>(
                    "SELECT kind, volgnummer, tijdstempel, document, loaded_at FROM medmij_lists WHERE kind = $1",
                )
                .bind(kind)
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                Ok(row.map(|(kind, volgnummer, tijdstempel, document, loaded_at)| StoredList {
                    kind, volgnummer, tijdstempel, document, loaded_at,
                }))
            }

            pub(crate) async fn put_medmij_list(pool: &Pool, l: &StoredList) -> StoreResult<bool> {
                // One statement: a lower Volgnummer than the stored one changes nothing.
                let done = sqlx::query::<Db>(
                    "INSERT INTO medmij_lists (kind, volgnummer, tijdstempel, document, loaded_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (kind) DO UPDATE SET volgnummer = excluded.volgnummer, \
                     tijdstempel = excluded.tijdstempel, document = excluded.document, \
                     loaded_at = excluded.loaded_at \
                     WHERE medmij_lists.volgnummer <= excluded.volgnummer",
                )
                .bind(&l.kind)
                .bind(l.volgnummer)
                .bind(&l.tijdstempel)
                .bind(&l.document)
                .bind(l.loaded_at)
                .execute(pool)
                .await
                .map_err(internal)?
                .rows_affected();
                Ok(done == 1)
            }

            pub(crate) async fn reserve_issued(pool: &Pool, digest: &Digest, kind: &str, keep_until: i64) -> StoreResult<bool> {
                let done = sqlx::query::<Db>(
                    "INSERT INTO issued_values (digest, kind, keep_until) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(digest.0.to_vec())
                .bind(kind)
                .bind(keep_until)
                .execute(pool)
                .await
                .map_err(internal)?
                .rows_affected();
                Ok(done == 1)
            }

            pub(crate) async fn put_medmij_consent(pool: &Pool, c: &MedmijConsent) -> StoreResult<()> {
                sqlx::query::<Db>(
                    "INSERT INTO medmij_consents (id, subject, client_id, aanbieder, gegevensdiensten, grant_id, granted_at, expires_at, ended_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&c.id)
                .bind(&c.subject)
                .bind(&c.client_id)
                .bind(&c.aanbieder)
                .bind(c.gegevensdiensten.to_string())
                .bind(&c.grant_id)
                .bind(c.granted_at)
                .bind(c.expires_at)
                .bind(c.ended_at)
                .execute(pool)
                .await
                .map_err(internal)?;
                Ok(())
            }

            type ConsentRow = (String, String, String, String, String, String, i64, i64, Option<i64>);

            fn medmij_consent(row: ConsentRow) -> StoreResult<MedmijConsent> {
                let (id, subject, client_id, aanbieder, gegevensdiensten, grant_id, granted_at, expires_at, ended_at) = row;
                Ok(MedmijConsent {
                    id, subject, client_id, aanbieder,
                    gegevensdiensten: parse_scope(&gegevensdiensten)?,
                    grant_id, granted_at, expires_at, ended_at,
                })
            }

            pub(crate) async fn medmij_consents_of(pool: &Pool, subject: &str, now: i64) -> StoreResult<Vec<MedmijConsent>> {
                let rows = sqlx::query_as::<Db, ConsentRow>(
                    "SELECT id, subject, client_id, aanbieder, gegevensdiensten, grant_id, granted_at, expires_at, ended_at \
                     FROM medmij_consents WHERE subject = $1 AND ended_at IS NULL AND expires_at > $2 \
                     ORDER BY granted_at DESC, id",
                )
                .bind(subject)
                .bind(now)
                .fetch_all(pool)
                .await
                .map_err(internal)?;
                rows.into_iter().map(medmij_consent).collect()
            }

            pub(crate) async fn end_medmij_consent(pool: &Pool, subject: &str, id: &str, now: i64) -> StoreResult<Option<MedmijConsent>> {
                // One conditional statement: only a live consent of this person ends, once.
                let row = sqlx::query_as::<Db, ConsentRow>(
                    "UPDATE medmij_consents SET ended_at = $3 \
                     WHERE id = $1 AND subject = $2 AND ended_at IS NULL AND expires_at > $3 \
                     RETURNING id, subject, client_id, aanbieder, gegevensdiensten, grant_id, granted_at, expires_at, ended_at",
                )
                .bind(id)
                .bind(subject)
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                row.map(medmij_consent).transpose()
            }

            pub(crate) async fn list_keys(pool: &Pool) -> StoreResult<Vec<SigningKeyRecord>> {
                type Row = (String, String, String, Vec<u8>, String, i64, Option<i64>, Option<i64>, Option<i64>);
                let rows = sqlx::query_as::<Db, Row>(
                    "SELECT kid, alg, state, private_key_enc, public_jwk, created_at, activated_at, retired_at, publish_until \
                     FROM signing_keys ORDER BY created_at, kid",
                )
                .fetch_all(pool)
                .await
                .map_err(internal)?;
                rows.into_iter()
                    .map(|(kid, alg, state, enc, jwk, created_at, activated_at, retired_at, publish_until)| {
                        Ok(SigningKeyRecord {
                            alg: SigningAlg::parse(&alg).ok_or_else(|| InternalError::new(format!("key {kid}: alg {alg}")))?,
                            state: KeyState::parse(&state).ok_or_else(|| InternalError::new(format!("key {kid}: state {state}")))?,
                            private_key_enc: enc,
                            public_jwk: from_json::<Value>("jwk", &jwk)?,
                            kid,
                            created_at,
                            activated_at,
                            retired_at,
                            publish_until,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn insert_key(pool: &Pool, k: &SigningKeyRecord) -> StoreResult<bool> {
                let mut tx = pool.begin().await.map_err(internal)?;
                let done = sqlx::query::<Db>(
                    "INSERT INTO signing_keys (kid, alg, state, private_key_enc, public_jwk, created_at, activated_at, retired_at, publish_until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                )
                .bind(&k.kid)
                .bind(k.alg.as_str())
                .bind(k.state.as_str())
                .bind(&k.private_key_enc)
                .bind(k.public_jwk.to_string())
                .bind(k.created_at)
                .bind(k.activated_at)
                .bind(k.retired_at)
                .bind(k.publish_until)
                .execute(&mut *tx)
                .await
                .map_err(internal)?
                .rows_affected()
                    == 1;
                commit_change(tx, done).await
            }

            pub(crate) async fn transition_key(
                pool: &Pool,
                kid: &str,
                from: KeyState,
                to: KeyState,
                at: i64,
                publish_until: Option<i64>,
            ) -> StoreResult<bool> {
                let mut tx = pool.begin().await.map_err(internal)?;
                let done = sqlx::query::<Db>(
                    "UPDATE signing_keys SET state = $3, \
                       activated_at = CASE WHEN $3 = 'active' THEN $4 ELSE activated_at END, \
                       retired_at = CASE WHEN $3 = 'retired' THEN $4 ELSE retired_at END, \
                       publish_until = $5 \
                     WHERE kid = $1 AND state = $2",
                )
                .bind(kid)
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(at)
                .bind(publish_until)
                .execute(&mut *tx)
                .await
                .map_err(internal)?
                .rows_affected()
                    == 1;
                commit_change(tx, done).await
            }

            // ---- Users ----

            pub(crate) async fn user_by_subject(pool: &Pool, subject: &str) -> StoreResult<Option<User>> {
                one_user(pool, "SELECT data FROM users WHERE subject = $1", subject).await
            }

            pub(crate) async fn create_user(pool: &Pool, user: &User, now: i64) -> StoreResult<bool> {
                // No conflict target: a taken subject and a taken username both leave it out.
                let done = sqlx::query::<Db>(
                    "INSERT INTO users (subject, username, data, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&user.subject)
                .bind(&user.username)
                .bind(to_json(user)?)
                .bind(now)
                .execute(pool)
                .await
                .map_err(internal)?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn update_user(pool: &Pool, user: &User, now: i64) -> StoreResult<bool> {
                let mut tx = pool.begin().await.map_err(internal)?;
                let done = sqlx::query::<Db>(
                    "UPDATE users SET username = $2, data = $3, updated_at = $4 WHERE subject = $1",
                )
                .bind(&user.subject)
                .bind(&user.username)
                .bind(to_json(user)?)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
                // Nodes cache users: a change (a disabled user above all) reaches them through
                // the generation, within `server.sync_interval_ms`.
                commit_change(tx, done.rows_affected() == 1).await
            }

            /// Compare-and-swap attempts of [`rehash_password`] before it gives up (the rehash is
            /// only an upgrade: the next login tries again).
            const REHASH_ATTEMPTS: usize = 3;

            pub(crate) async fn rehash_password(pool: &Pool, subject: &str, old: &str, new: &str) -> StoreResult<bool> {
                // The update applies only to the very document that was read (compare-and-swap),
                // so a password change committed in between is never undone. Portable, and needs
                // no row lock: SQLite has no SELECT … FOR UPDATE.
                for _ in 0..REHASH_ATTEMPTS {
                    let row = sqlx::query_as::<Db, (String,)>("SELECT data FROM users WHERE subject = $1")
                        .bind(subject)
                        .fetch_optional(pool)
                        .await
                        .map_err(internal)?;
                    let Some((read,)) = row else {
                        return Ok(false);
                    };
                    let mut user: User = from_json("user", &read)?;
                    if user.password_hash != old {
                        return Ok(false);
                    }
                    user.password_hash = new.to_owned();
                    let done = sqlx::query::<Db>("UPDATE users SET data = $3 WHERE subject = $1 AND data = $2")
                        .bind(subject)
                        .bind(&read)
                        .bind(to_json(&user)?)
                        .execute(pool)
                        .await
                        .map_err(internal)?;
                    if done.rows_affected() == 1 {
                        return Ok(true);
                    }
                }
                Ok(false)
            }

            pub(crate) async fn authorized_scopes(
                pool: &Pool,
                username: &str,
                groups: &[String],
                api: &str,
            ) -> StoreResult<Option<ScopeSet>> {
                let mut sql = String::from(
                    "SELECT data FROM authorizations WHERE api_id = $1 \
                     AND ((grantee_kind = 'user' AND grantee = $2)",
                );
                if !groups.is_empty() {
                    sql.push_str(" OR (grantee_kind = 'group' AND grantee IN (");
                    sql.push_str(&placeholders(3, groups.len()));
                    sql.push_str("))");
                }
                sql.push(')');
                let mut q = sqlx::query_as::<Db, (String,)>(sqlx::AssertSqlSafe(sql)).bind(api).bind(username);
                for g in groups {
                    q = q.bind(g);
                }
                let rows = q.fetch_all(pool).await.map_err(internal)?;
                if rows.is_empty() {
                    return Ok(None);
                }
                let mut scopes = ScopeSet::new();
                for (d,) in rows {
                    let a: Authorization = from_json("authorization", &d)?;
                    scopes = scopes.union(&a.scopes);
                }
                Ok(Some(scopes))
            }

            // ---- Interactions ----

            pub(crate) async fn put_interaction(pool: &Pool, i: &Interaction) -> StoreResult<()> {
                sqlx::query::<Db>("INSERT INTO interactions (id, data, expires_at) VALUES ($1, $2, $3)")
                    .bind(&i.id)
                    .bind(to_json(i)?)
                    .bind(i.expires_at)
                    .execute(pool)
                    .await
                    .map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn get_interaction(pool: &Pool, id: &str, now: i64) -> StoreResult<Option<Interaction>> {
                let row = sqlx::query_as::<Db, (String,)>("SELECT data FROM interactions WHERE id = $1 AND expires_at > $2")
                    .bind(id)
                    .bind(now)
                    .fetch_optional(pool)
                    .await
                    .map_err(internal)?;
                row.map(|(d,)| from_json("interaction", &d)).transpose()
            }

            pub(crate) async fn take_interaction(pool: &Pool, id: &str) -> StoreResult<bool> {
                let done = sqlx::query::<Db>("DELETE FROM interactions WHERE id = $1")
                    .bind(id)
                    .execute(pool)
                    .await
                    .map_err(internal)?;
                Ok(done.rows_affected() == 1)
            }

            // ---- Sessions ----

            type SessionRow = (Vec<u8>, String, String, i64, String, Option<String>, i64, i64, i64);

            fn session_of(row: SessionRow) -> StoreResult<Session> {
                let (digest, sid, subject, auth_time, amr, acr, created_at, last_seen, expires_at) = row;
                Ok(Session {
                    digest: parse_digest(digest)?,
                    amr: from_json("amr", &amr)?,
                    sid, subject, auth_time, acr, created_at, last_seen, expires_at,
                })
            }

            pub(crate) async fn create_session(pool: &Pool, s: &Session) -> StoreResult<()> {
                sqlx::query::<Db>(
                    "INSERT INTO sessions (digest, sid, subject, auth_time, amr, acr, created_at, last_seen, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(s.digest.0.to_vec())
                .bind(&s.sid)
                .bind(&s.subject)
                .bind(s.auth_time)
                .bind(to_json(&s.amr)?)
                .bind(&s.acr)
                .bind(s.created_at)
                .bind(s.last_seen)
                .bind(s.expires_at)
                .execute(pool)
                .await
                .map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn get_session(pool: &Pool, digest: &Digest, now: i64) -> StoreResult<Option<Session>> {
                let row = sqlx::query_as::<Db, SessionRow>(
                    "SELECT digest, sid, subject, auth_time, amr, acr, created_at, last_seen, expires_at \
                     FROM sessions WHERE digest = $1 AND expires_at > $2",
                )
                .bind(digest.0.to_vec())
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                row.map(session_of).transpose()
            }

            pub(crate) async fn touch_session(pool: &Pool, digest: &Digest, now: i64) -> StoreResult<()> {
                // Never moves backwards (a slow request finishing late), and skips no-op writes.
                sqlx::query::<Db>("UPDATE sessions SET last_seen = $2 WHERE digest = $1 AND last_seen < $2")
                    .bind(digest.0.to_vec())
                    .bind(now)
                    .execute(pool)
                    .await
                    .map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn end_session(pool: &Pool, digest: &Digest) -> StoreResult<Option<Session>> {
                let row = sqlx::query_as::<Db, SessionRow>(
                    "DELETE FROM sessions WHERE digest = $1 \
                     RETURNING digest, sid, subject, auth_time, amr, acr, created_at, last_seen, expires_at",
                )
                .bind(digest.0.to_vec())
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                row.map(session_of).transpose()
            }

            pub(crate) async fn end_session_by_sid(pool: &Pool, subject: &str, sid: &str) -> StoreResult<bool> {
                let done = sqlx::query::<Db>("DELETE FROM sessions WHERE subject = $1 AND sid = $2")
                    .bind(subject)
                    .bind(sid)
                    .execute(pool)
                    .await
                    .map_err(internal)?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn sessions_of(pool: &Pool, subject: &str, now: i64) -> StoreResult<Vec<Session>> {
                let rows = sqlx::query_as::<Db, SessionRow>(
                    "SELECT digest, sid, subject, auth_time, amr, acr, created_at, last_seen, expires_at \
                     FROM sessions WHERE subject = $1 AND expires_at > $2 ORDER BY created_at DESC, sid",
                )
                .bind(subject)
                .bind(now)
                .fetch_all(pool)
                .await
                .map_err(internal)?;
                rows.into_iter().map(session_of).collect()
            }

            // ---- Consents ----

            /// The `api` column: '' for a consent that named no API.
            fn api_key(api: Option<&str>) -> &str {
                api.unwrap_or("")
            }

            pub(crate) async fn get_consent(pool: &Pool, subject: &str, client_id: &str, api: Option<&str>, now: i64) -> StoreResult<Option<Consent>> {
                let row = sqlx::query_as::<Db, (String, i64, i64)>(
                    "SELECT scope, granted_at, expires_at FROM consents \
                     WHERE subject = $1 AND client_id = $2 AND api = $3 AND expires_at > $4",
                )
                .bind(subject)
                .bind(client_id)
                .bind(api_key(api))
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                row.map(|(scope, granted_at, expires_at)| {
                    Ok(Consent {
                        subject: subject.to_owned(),
                        client_id: client_id.to_owned(),
                        api: api.map(str::to_owned),
                        scopes: parse_scope(&scope)?,
                        granted_at,
                        expires_at,
                    })
                })
                .transpose()
            }

            pub(crate) async fn put_consent(pool: &Pool, c: &Consent) -> StoreResult<()> {
                sqlx::query::<Db>(
                    "INSERT INTO consents (subject, client_id, api, scope, granted_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (subject, client_id, api) DO UPDATE SET scope = excluded.scope, \
                     granted_at = excluded.granted_at, expires_at = excluded.expires_at",
                )
                .bind(&c.subject)
                .bind(&c.client_id)
                .bind(api_key(c.api.as_deref()))
                .bind(c.scopes.to_string())
                .bind(c.granted_at)
                .bind(c.expires_at)
                .execute(pool)
                .await
                .map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn consents_of(pool: &Pool, subject: &str, now: i64) -> StoreResult<Vec<Consent>> {
                let rows = sqlx::query_as::<Db, (String, String, String, i64, i64)>(
                    "SELECT client_id, api, scope, granted_at, expires_at FROM consents \
                     WHERE subject = $1 AND expires_at > $2 ORDER BY client_id, api",
                )
                .bind(subject)
                .bind(now)
                .fetch_all(pool)
                .await
                .map_err(internal)?;
                rows.into_iter()
                    .map(|(client_id, api, scope, granted_at, expires_at)| {
                        Ok(Consent {
                            subject: subject.to_owned(),
                            client_id,
                            api: (!api.is_empty()).then_some(api),
                            scopes: parse_scope(&scope)?,
                            granted_at,
                            expires_at,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn delete_consent(pool: &Pool, subject: &str, client_id: &str, api: Option<&str>) -> StoreResult<bool> {
                let done = sqlx::query::<Db>("DELETE FROM consents WHERE subject = $1 AND client_id = $2 AND api = $3")
                    .bind(subject)
                    .bind(client_id)
                    .bind(api_key(api))
                    .execute(pool)
                    .await
                    .map_err(internal)?;
                Ok(done.rows_affected() == 1)
            }

            // ---- Grants and codes ----

            type GrantRow = (
                String, String, String, Option<String>, String, i64, Option<String>, bool, Option<String>, i64, i64,
                Option<i64>,
            );

            fn grant_of(row: GrantRow) -> StoreResult<Grant> {
                let (id, client_id, subject, api, scope, auth_time, sid, offline, parent, created_at, expires_at, revoked_at) = row;
                Ok(Grant {
                    scope: parse_scope(&scope)?,
                    id, client_id, subject, api, auth_time, sid, offline, parent, created_at, expires_at, revoked_at,
                })
            }

            pub(crate) async fn issue_code(pool: &Pool, g: &Grant, code: &Digest, record: &CodeRecord) -> StoreResult<()> {
                if record.grant_id != g.id {
                    return Err(InternalError::new(format!(
                        "code record names grant {}, not the grant issued with it ({})",
                        record.grant_id, g.id
                    )));
                }
                let mut tx = pool.begin().await.map_err(internal)?;
                sqlx::query::<Db>(
                    "INSERT INTO grants (id, client_id, subject, api, scope, auth_time, sid, offline, parent, \
                     created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&g.id)
                .bind(&g.client_id)
                .bind(&g.subject)
                .bind(&g.api)
                .bind(g.scope.to_string())
                .bind(g.auth_time)
                .bind(&g.sid)
                .bind(g.offline)
                .bind(&g.parent)
                .bind(g.created_at)
                .bind(g.expires_at)
                .bind(g.revoked_at)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
                sqlx::query::<Db>("INSERT INTO auth_codes (digest, grant_id, data, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(code.0.to_vec())
                    .bind(&g.id)
                    .bind(to_json(record)?)
                    .bind(record.expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                tx.commit().await.map_err(internal)
            }

            pub(crate) async fn consume_code(pool: &Pool, code: &Digest, now: i64) -> StoreResult<CodeOutcome> {
                // The one conditional statement: of concurrent presentations, one sees the row.
                let spent = sqlx::query_as::<Db, (String,)>(
                    "UPDATE auth_codes SET consumed_at = $2 WHERE digest = $1 AND consumed_at IS NULL RETURNING data",
                )
                .bind(code.0.to_vec())
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                if let Some((d,)) = spent {
                    return Ok(CodeOutcome::Consumed(Box::new(from_json("code", &d)?)));
                }
                let seen = sqlx::query_as::<Db, (String,)>("SELECT grant_id FROM auth_codes WHERE digest = $1")
                    .bind(code.0.to_vec())
                    .fetch_optional(pool)
                    .await
                    .map_err(internal)?;
                Ok(match seen {
                    Some((grant_id,)) => CodeOutcome::Replayed { grant_id },
                    None => CodeOutcome::NotFound,
                })
            }

            pub(crate) async fn get_grant(pool: &Pool, id: &str) -> StoreResult<Option<Grant>> {
                let row = sqlx::query_as::<Db, GrantRow>(
                    "SELECT id, client_id, subject, api, scope, auth_time, sid, offline, parent, created_at, expires_at, \
                     revoked_at FROM grants WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                row.map(grant_of).transpose()
            }

            pub(crate) async fn live_grants(
                pool: &Pool,
                subject: &str,
                client_id: Option<&str>,
                online_in_sid: Option<&str>,
                now: i64,
            ) -> StoreResult<Vec<Grant>> {
                let rows = sqlx::query_as::<Db, GrantRow>(
                    "SELECT id, client_id, subject, api, scope, auth_time, sid, offline, parent, created_at, expires_at, \
                     revoked_at FROM grants \
                     WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2 \
                     AND ($3 IS NULL OR client_id = $3) \
                     AND ($4 IS NULL OR (sid = $4 AND NOT offline)) \
                     ORDER BY created_at, id",
                )
                .bind(subject)
                .bind(now)
                .bind(client_id)
                .bind(online_in_sid)
                .fetch_all(pool)
                .await
                .map_err(internal)?;
                rows.into_iter().map(grant_of).collect()
            }

            pub(crate) async fn live_grants_after(pool: &Pool, after: &str, limit: i64, now: i64) -> StoreResult<Vec<Grant>> {
                let rows = sqlx::query_as::<Db, GrantRow>(
                    "SELECT id, client_id, subject, api, scope, auth_time, sid, offline, parent, created_at, expires_at, \
                     revoked_at FROM grants \
                     WHERE id > $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY id LIMIT $3",
                )
                .bind(after)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(internal)?;
                rows.into_iter().map(grant_of).collect()
            }

            pub(crate) async fn revoke_grant(pool: &Pool, r: &Revocation, now: i64) -> StoreResult<bool> {
                if r.kind != RevocationKind::Grant {
                    return Err(InternalError::new(format!("revoke_grant given a revocation of kind {}", r.kind.as_str())));
                }
                let mut tx = pool.begin().await.map_err(internal)?;
                let newly = sqlx::query::<Db>("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                    .bind(&r.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?
                    .rows_affected()
                    == 1;
                for delete in [
                    "DELETE FROM auth_codes WHERE grant_id = $1",
                    "DELETE FROM refresh_tokens WHERE grant_id = $1",
                ] {
                    sqlx::query::<Db>(delete).bind(&r.id).execute(&mut *tx).await.map_err(internal)?;
                }
                insert_revocation(&mut *tx, r, now).await?;
                tx.commit().await.map_err(internal)?;
                Ok(newly)
            }

            // ---- Refresh tokens ----

            async fn insert_refresh_row<'c, E: sqlx::Executor<'c, Database = Db>>(
                e: E,
                digest: &Digest,
                record: &RefreshRecord,
            ) -> StoreResult<()> {
                sqlx::query::<Db>("INSERT INTO refresh_tokens (digest, grant_id, data, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(digest.0.to_vec())
                    .bind(&record.grant_id)
                    .bind(to_json(record)?)
                    .bind(record.expires_at)
                    .execute(e)
                    .await
                    .map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn insert_refresh(pool: &Pool, digest: &Digest, record: &RefreshRecord) -> StoreResult<()> {
                insert_refresh_row(pool, digest, record).await
            }

            pub(crate) async fn find_refresh(pool: &Pool, digest: &Digest) -> StoreResult<Option<(RefreshRecord, bool)>> {
                let row = sqlx::query_as::<Db, (String, Option<i64>)>(
                    "SELECT data, rotated_at FROM refresh_tokens WHERE digest = $1",
                )
                .bind(digest.0.to_vec())
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                row.map(|(d, rotated_at)| Ok((from_json("refresh token", &d)?, rotated_at.is_some())))
                    .transpose()
            }

            pub(crate) async fn rotate_refresh(
                pool: &Pool,
                old: &Digest,
                new: &Digest,
                record: &RefreshRecord,
                now: i64,
            ) -> StoreResult<RotateOutcome> {
                let mut tx = pool.begin().await.map_err(internal)?;
                // Of concurrent rotations, one marks the row; the others find it marked (on
                // PostgreSQL they wait for the first to commit, then re-check the condition).
                let spent = sqlx::query::<Db>(
                    "UPDATE refresh_tokens SET rotated_at = $2 WHERE digest = $1 AND rotated_at IS NULL",
                )
                .bind(old.0.to_vec())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(internal)?
                .rows_affected()
                    == 1;
                if spent {
                    insert_refresh_row(&mut *tx, new, record).await?;
                    tx.commit().await.map_err(internal)?;
                    return Ok(RotateOutcome::Rotated);
                }
                let seen = sqlx::query_as::<Db, (String,)>("SELECT grant_id FROM refresh_tokens WHERE digest = $1")
                    .bind(old.0.to_vec())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(internal)?;
                tx.commit().await.map_err(internal)?;
                Ok(match seen {
                    Some((grant_id,)) => RotateOutcome::ReuseDetected { grant_id },
                    None => RotateOutcome::NotFound,
                })
            }

            // ---- Login failures ----

            pub(crate) async fn login_failures(pool: &Pool, keys: &[String], since: i64) -> StoreResult<Vec<FailureCount>> {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT key, failures, window_start FROM login_failures WHERE window_start >= $1 AND key IN ({})",
                    placeholders(2, keys.len())
                );
                let mut q = sqlx::query_as::<Db, (String, i64, i64)>(sqlx::AssertSqlSafe(sql)).bind(since);
                for k in keys {
                    q = q.bind(k);
                }
                let rows = q.fetch_all(pool).await.map_err(internal)?;
                // In the order of `keys`.
                Ok(keys
                    .iter()
                    .filter_map(|k| rows.iter().find(|(key, _, _)| key == k))
                    .map(|&(_, failures, window_start)| FailureCount { failures, window_start })
                    .collect())
            }

            /// Increment, then decide, in one conditional statement: the row is locked while
            /// the limit is compared, so parallel attempts on any node queue here and the limit
            /// holds. No row comes back when the budget is spent.
            const RESERVE_ATTEMPT: &str =
                "INSERT INTO login_failures (key, failures, window_start) VALUES ($1, 1, $3) \
                 ON CONFLICT (key) DO UPDATE SET \
                 failures = CASE WHEN login_failures.window_start < $2 THEN 1 \
                            ELSE login_failures.failures + 1 END, \
                 window_start = CASE WHEN login_failures.window_start < $2 THEN $3 \
                                ELSE login_failures.window_start END \
                 WHERE login_failures.window_start < $2 OR login_failures.failures < $4 \
                 RETURNING failures";

            pub(crate) async fn reserve_attempts(pool: &Pool, budgets: &[AttemptBudget], since: i64, now: i64) -> StoreResult<Reservation> {
                if let [b] = budgets {
                    // One key: the statement alone is atomic, no transaction needed.
                    let counted = sqlx::query_as::<Db, (i64,)>(RESERVE_ATTEMPT)
                        .bind(&b.key)
                        .bind(since)
                        .bind(now)
                        .bind(b.limit)
                        .fetch_optional(pool)
                        .await
                        .map_err(internal)?;
                    return Ok(if counted.is_some() { Reservation::Granted } else { Reservation::Refused(0) });
                }
                let mut tx = pool.begin().await.map_err(internal)?;
                for (index, b) in budgets.iter().enumerate() {
                    let counted = sqlx::query_as::<Db, (i64,)>(RESERVE_ATTEMPT)
                        .bind(&b.key)
                        .bind(since)
                        .bind(now)
                        .bind(b.limit)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(internal)?;
                    if counted.is_none() {
                        tx.rollback().await.map_err(internal)?;
                        return Ok(Reservation::Refused(index));
                    }
                }
                tx.commit().await.map_err(internal)?;
                Ok(Reservation::Granted)
            }

            pub(crate) async fn release_attempts(pool: &Pool, keys: &[String]) -> StoreResult<()> {
                let mut tx = pool.begin().await.map_err(internal)?;
                for k in keys {
                    sqlx::query::<Db>("UPDATE login_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0")
                        .bind(k)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                }
                tx.commit().await.map_err(internal)
            }

            pub(crate) async fn clear_login_failures(pool: &Pool, key: &str) -> StoreResult<()> {
                sqlx::query::<Db>("DELETE FROM login_failures WHERE key = $1")
                    .bind(key)
                    .execute(pool)
                    .await
                    .map_err(internal)?;
                Ok(())
            }
        }
    };
}

backend!(sqlite, sqlx::Sqlite, sqlx::SqlitePool);
backend!(postgres, sqlx::Postgres, sqlx::PgPool);
