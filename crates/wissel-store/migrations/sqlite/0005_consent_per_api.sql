-- Remembered consent is kept per user, client and API (DESIGN.md §2): consent to `read` on one
-- API must not cover `read` on another. `api` is '' for a request that named no API (only the
-- OpenID Connect scopes then). Rows of the old per-client table cannot be attributed to an API
-- when they hold any other scope: those are dropped (the user is asked again, once); rows that
-- hold only OpenID Connect scopes are kept as consents without an API.
CREATE TABLE consents_by_api (
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    api TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id, api)
);

INSERT INTO consents_by_api (subject, client_id, api, scope, granted_at, expires_at)
SELECT subject, client_id, '', scope, granted_at, expires_at FROM consents
WHERE TRIM(REPLACE(REPLACE(REPLACE(REPLACE(' ' || scope || ' ',
    ' openid ', ' '), ' profile ', ' '), ' email ', ' '), ' offline_access ', ' ')) = '';

DROP TABLE consents;
ALTER TABLE consents_by_api RENAME TO consents;
CREATE INDEX consents_expires_at ON consents (expires_at);
