//! Revocation (RFC 7009): a client may revoke only the tokens issued to it.

use crate::model::{AccessToken, Revocation, RevocationKind};

/// The revocation to record when `client_id` asks to revoke `token`, or `None` when the token is
/// not the client's (RFC 7009 §2.1: the request is then answered like an invalid token).
///
/// A token from token exchange is the only token of its own grant, and every token exchanged
/// from it carries that grant in its chain: revoking the grant revokes the token and everything
/// derived from it. None of those outlives the token itself.
pub fn revocation_for(client_id: &str, token: &AccessToken) -> Option<Revocation> {
    if token.client_id != client_id {
        return None;
    }
    let (kind, id) = if token.derivation.chain.is_empty() {
        (RevocationKind::Token, token.jti.clone())
    } else {
        (RevocationKind::Grant, token.grant_id.clone())
    };
    Some(Revocation {
        kind,
        id,
        expires_at: token.expires_at,
    })
}
