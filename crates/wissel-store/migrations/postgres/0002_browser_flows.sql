-- wissel schema v2 (PostgreSQL): the state of the browser flows. Times are Unix seconds; tokens,
-- codes and cookies are stored only as SHA-256 digests. Every table that expires has an index on
-- its expiry, for the purge.

-- Pending authorization requests, while the user logs in and consents.
CREATE TABLE interactions (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX interactions_expires_at ON interactions (expires_at);

-- SSO sessions, by the digest of the cookie; `sid` is the public id (ID tokens, logout).
CREATE TABLE sessions (
    digest BYTEA PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id)
);
CREATE INDEX consents_expires_at ON consents (expires_at);

-- The roots of token families. A revoked grant stays until it expires, so that its id is
-- still known.
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    api TEXT,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    sid TEXT,
    offline BOOLEAN NOT NULL,
    parent TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_subject_client ON grants (subject, client_id);
CREATE INDEX grants_sid ON grants (sid);
CREATE INDEX grants_parent ON grants (parent);
CREATE INDEX grants_expires_at ON grants (expires_at);

-- A spent code stays (consumed_at set) until it expires, so that a replay is recognised.
CREATE TABLE auth_codes (
    digest BYTEA PRIMARY KEY,
    grant_id TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX auth_codes_grant_id ON auth_codes (grant_id);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

-- A rotated refresh token stays (rotated_at set) until it expires, so that a reuse is
-- recognised.
CREATE TABLE refresh_tokens (
    digest BYTEA PRIMARY KEY,
    grant_id TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Failed logins per key (an account or an address) in the current window.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX login_failures_window_start ON login_failures (window_start);

-- Each signing algorithm has its own key set (additional algorithms sign ID tokens for clients
-- registered with them): at most one key waits to sign per algorithm.
DROP INDEX signing_keys_one_next;
CREATE UNIQUE INDEX signing_keys_one_next_per_alg ON signing_keys (alg) WHERE state = 'next';
