-- wissel schema v3: what token exchange adds to an opaque access token (RFC 8693): the grants it
-- derives from, its actor, `may_act` and the user claims its scopes release, as one JSON
-- document (NULL for every other token).
ALTER TABLE access_tokens ADD COLUMN derivation TEXT;
