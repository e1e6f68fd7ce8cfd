//! The SQL, written once and instantiated for both drivers. Placeholders are `$n`, which both
//! SQLite and PostgreSQL bind by number.

macro_rules! backend {
    ($name:ident, $db:ty, $pool:ty) => {
        pub(crate) mod $name {
            use serde_json::Value;
            use wissel_core::InternalError;
            use wissel_core::model::{
                AccessToken, Api, ApplyReport, Client, Digest, Grantee, KeyState, Link,
                Provisioning, Registry, Revocation, RevocationKind, SigningAlg, SigningKeyRecord,
                TokenFormat, User,
            };
            use wissel_core::ports::StoreResult;
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

            pub(crate) async fn find_user(pool: &Pool, username: &str) -> StoreResult<Option<User>> {
                let row = sqlx::query_as::<Db, (String,)>("SELECT data FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_optional(pool)
                    .await
                    .map_err(internal)?;
                row.map(|(d,)| from_json("user", &d)).transpose()
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
                    "INSERT INTO access_tokens (digest, jti, grant_id, client_id, subject, api_id, scope, issued_at, expires_at) VALUES ",
                );
                for i in 0..items.len() {
                    let b = i * 9;
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9
                    ));
                }
                let mut q = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql));
                for (d, t) in items {
                    q = q
                        .bind(d.0.to_vec())
                        .bind(t.jti.clone())
                        .bind(t.grant_id.clone())
                        .bind(t.client_id.clone())
                        .bind(t.subject.clone())
                        .bind(t.api.clone())
                        .bind(t.scope.to_string())
                        .bind(t.issued_at)
                        .bind(t.expires_at);
                }
                q.execute(e).await.map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn insert_access_token(pool: &Pool, digest: &Digest, t: &AccessToken) -> StoreResult<()> {
                sqlx::query::<Db>(
                    "INSERT INTO access_tokens (digest, jti, grant_id, client_id, subject, api_id, scope, issued_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(digest.0.to_vec())
                .bind(&t.jti)
                .bind(&t.grant_id)
                .bind(&t.client_id)
                .bind(&t.subject)
                .bind(&t.api)
                .bind(t.scope.to_string())
                .bind(t.issued_at)
                .bind(t.expires_at)
                .execute(pool)
                .await
                .map_err(internal)?;
                Ok(())
            }

            pub(crate) async fn find_access_token(pool: &Pool, digest: &Digest) -> StoreResult<Option<(AccessToken, bool)>> {
                type Row = (String, String, String, String, String, String, i64, i64, Option<i64>);
                let row = sqlx::query_as::<Db, Row>(
                    "SELECT jti, grant_id, client_id, subject, api_id, scope, issued_at, expires_at, revoked_at \
                     FROM access_tokens WHERE digest = $1",
                )
                .bind(digest.0.to_vec())
                .fetch_optional(pool)
                .await
                .map_err(internal)?;
                let Some((jti, grant_id, client_id, subject, api, scope, issued_at, expires_at, revoked_at)) = row else {
                    return Ok(None);
                };
                let scope = if scope.is_empty() {
                    ScopeSet::new()
                } else {
                    ScopeSet::parse(&scope).map_err(|e| InternalError::new(format!("stored scope: {e}")))?
                };
                let token = AccessToken {
                    jti, grant_id, client_id, subject, api, scope, issued_at, expires_at,
                    format: TokenFormat::Opaque,
                };
                Ok(Some((token, revoked_at.is_some())))
            }

            pub(crate) async fn revoke(pool: &Pool, r: &Revocation, opaque: Option<&Digest>, now: i64) -> StoreResult<()> {
                let mut tx = pool.begin().await.map_err(internal)?;
                sqlx::query::<Db>(
                    "INSERT INTO revocations (kind, id, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (kind, id) DO NOTHING",
                )
                .bind(r.kind.as_str())
                .bind(&r.id)
                .bind(r.expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
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
                let statements: [&'static str; 4] = [
                    "DELETE FROM access_tokens WHERE digest IN \
                     (SELECT digest FROM access_tokens WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM revocations WHERE seq IN \
                     (SELECT seq FROM revocations WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM used_jtis WHERE (issuer, jti) IN \
                     (SELECT issuer, jti FROM used_jtis WHERE expires_at < $1 LIMIT $2)",
                    "DELETE FROM signing_keys WHERE kid IN (SELECT kid FROM signing_keys \
                     WHERE state = 'retired' AND publish_until < $1 LIMIT $2)",
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
        }
    };
}

backend!(sqlite, sqlx::Sqlite, sqlx::SqlitePool);
backend!(postgres, sqlx::Postgres, sqlx::PgPool);
