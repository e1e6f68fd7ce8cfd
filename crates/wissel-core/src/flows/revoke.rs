//! Revocation (RFC 7009): a client may revoke only the tokens issued to it.

use crate::model::{AccessToken, Revocation, RevocationKind};

/// The revocation to record when `client_id` asks to revoke `token`, or `None` when the token is
/// not the client's (RFC 7009 §2.1: the request is then answered like an invalid token).
pub fn revocation_for(client_id: &str, token: &AccessToken) -> Option<Revocation> {
    (token.client_id == client_id).then(|| Revocation {
        kind: RevocationKind::Token,
        id: token.jti.clone(),
        expires_at: token.expires_at,
    })
}
