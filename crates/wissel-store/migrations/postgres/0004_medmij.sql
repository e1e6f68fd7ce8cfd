-- wissel schema v4 (PostgreSQL): the MedMij profile. The last valid copy of each central list, the
-- persons' long-lasting consents, and the ledger of issued codes and tokens that makes every new
-- one unique against all issued before (a unique key; a new value on collision).

CREATE TABLE medmij_lists (
    kind TEXT PRIMARY KEY,
    volgnummer BIGINT NOT NULL,
    tijdstempel TEXT NOT NULL,
    document BYTEA NOT NULL,
    loaded_at BIGINT NOT NULL
);

CREATE TABLE medmij_consents (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    aanbieder TEXT NOT NULL,
    gegevensdiensten TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX medmij_consents_subject ON medmij_consents (subject);
CREATE INDEX medmij_consents_expires_at ON medmij_consents (expires_at);

-- Digests of every code, access token and refresh token issued to a MedMij client, kept until
-- keep_until (medmij.uniqueness_retention_days).
CREATE TABLE issued_values (
    digest BYTEA PRIMARY KEY,
    kind TEXT NOT NULL,
    keep_until BIGINT NOT NULL
);
CREATE INDEX issued_values_keep_until ON issued_values (keep_until);
