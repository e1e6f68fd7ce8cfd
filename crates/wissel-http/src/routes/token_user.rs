//! The user grants of the token endpoint: `authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6)
//! and `refresh_token` (RFC 6749 §6, with rotation and reuse detection, RFC 9700 §4.14.2).

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};
use wissel_core::flows::code::{self, check_code, check_refresh, issues_refresh, refresh_scope};
use wissel_core::grant::{CodeOutcome, CodeRecord, RefreshRecord, RotateOutcome};
use wissel_core::model::{AccessToken, Client, Digest, User};
use wissel_core::ports::AuditEvent;
use wissel_core::scope::ScopeSet;
use wissel_core::{InternalError, OAuthError};
use wissel_crypto::{pkce, secret};

use super::no_store_json;
use crate::error::HttpError;
use crate::form::OAuthForm;
use crate::observe::RequestId;
use crate::oidc::{IdTokenInput, mint_id_token};
use crate::state::AppState;
use crate::tokens;

/// An audit event about a grant of a user (also the MedMij token interface's).
pub(super) fn audit(
    state: &AppState,
    kind: &'static str,
    outcome: &str,
    client: &Client,
    grant: &str,
    subject: Option<&str>,
    rid: &RequestId,
) {
    state.audit(&AuditEvent {
        kind,
        outcome: outcome.to_owned(),
        actor: Some(client.id.clone()),
        client: Some(client.id.clone()),
        api: None,
        subject: subject.map(str::to_owned),
        grant: Some(grant.to_owned()),
        jti: None,
        request_id: Some(rid.0.clone()),
    });
}

/// A presented secret value's digest, or `None` when it cannot be one of ours.
pub(super) fn digest_of(value: &str) -> Option<Digest> {
    (value.len() == 43).then(|| secret::digest(value.as_bytes()))
}

async fn active_user(state: &AppState, subject: &str) -> Result<Option<User>, InternalError> {
    Ok(state
        .store()
        .user_by_subject(subject)
        .await?
        .filter(|u| !u.disabled))
}

/// Spends the presented `code`, before any check: a code works once, whatever happens next. A
/// replay revokes everything issued with it.
pub(super) async fn spend_code(
    state: &AppState,
    rid: &RequestId,
    form: &OAuthForm,
    client: &Client,
) -> Result<CodeRecord, HttpError> {
    let value = form.require("code")?;
    let Some(digest) = digest_of(value) else {
        return Err(OAuthError::invalid_grant("unknown code").into());
    };
    match state.store().consume_code(&digest, state.now()).await? {
        CodeOutcome::Consumed(rec) => Ok(*rec),
        CodeOutcome::NotFound => {
            Err(OAuthError::invalid_grant("unknown, expired or revoked code").into())
        }
        CodeOutcome::Replayed { grant_id } => {
            // Remembered as long as the tokens of the grant's own client can live: the one
            // presenting the replay may be another client with shorter-lived tokens.
            let owner = state
                .store()
                .get_grant(&grant_id)
                .await?
                .map(|g| g.client_id);
            state
                .revoke_client_grant(&grant_id, owner.as_deref().unwrap_or(&client.id))
                .await?;
            audit(
                state,
                "code_replayed",
                "invalid_grant",
                client,
                &grant_id,
                None,
                rid,
            );
            Err(OAuthError::invalid_grant(
                "the code was used before; everything issued with it is revoked",
            )
            .into())
        }
    }
}

/// The presented `refresh_token`'s record and digest, when it is current and this client's; a
/// reuse of a rotated one revokes its whole family.
pub(super) async fn present_refresh(
    state: &AppState,
    rid: &RequestId,
    form: &OAuthForm,
    client: &Client,
) -> Result<(RefreshRecord, Digest), HttpError> {
    let value = form.require("refresh_token")?;
    let Some(old) = digest_of(value) else {
        return Err(OAuthError::invalid_grant("unknown refresh token").into());
    };
    let Some((rec, rotated)) = state.store().find_refresh(&old).await? else {
        return Err(OAuthError::invalid_grant("unknown, expired or revoked refresh token").into());
    };
    if rec.client_id != client.id {
        return Err(
            OAuthError::invalid_grant("the refresh token was issued to another client").into(),
        );
    }
    if rotated {
        let lifetime = code::longest_access_lifetime(&state.registry(), client);
        state.revoke_grant(&rec.grant_id, lifetime).await?;
        audit(
            state,
            "refresh_reused",
            "invalid_grant",
            client,
            &rec.grant_id,
            Some(&rec.subject),
            rid,
        );
        return Err(OAuthError::invalid_grant(
            "the refresh token was used before; its whole family is revoked",
        )
        .into());
    }
    Ok((rec, old))
}

/// Stores a refresh token by its digest `new`: a first one, or the successor of `old` (rotated
/// in one transaction; a concurrent rotation is a reuse and revokes the family).
pub(super) async fn keep_refresh(
    state: &AppState,
    client: &Client,
    new: &Digest,
    rec: &RefreshRecord,
    old: Option<&Digest>,
) -> Result<(), HttpError> {
    let Some(old) = old else {
        return Ok(state.store().insert_refresh(new, rec).await?);
    };
    match state
        .store()
        .rotate_refresh(old, new, rec, state.now())
        .await?
    {
        RotateOutcome::Rotated => Ok(()),
        RotateOutcome::ReuseDetected { grant_id } => {
            // Another request rotated it first: one of the two is not the client.
            let lifetime = code::longest_access_lifetime(&state.registry(), client);
            state.revoke_grant(&grant_id, lifetime).await?;
            Err(OAuthError::invalid_grant(
                "the refresh token was used before; its whole family is revoked",
            )
            .into())
        }
        RotateOutcome::NotFound => Err(OAuthError::invalid_grant("unknown refresh token").into()),
    }
}

/// `grant_type=authorization_code`.
pub(super) async fn authorization_code(
    state: &AppState,
    rid: &RequestId,
    form: &OAuthForm,
    client: &Arc<Client>,
) -> Result<Response, HttpError> {
    let rec = spend_code(state, rid, form, client).await?;
    let now = state.now();
    check_code(
        &rec,
        client,
        form.get("redirect_uri"),
        form.get("code_verifier"),
        now,
        pkce::verify,
    )?;
    let Some(user) = active_user(state, &rec.subject).await? else {
        return Err(OAuthError::invalid_grant("the user is no longer active").into());
    };
    let registry = state.registry();
    let access = code::user_access_token(
        &registry,
        client,
        &rec.grant_id,
        &rec.subject,
        rec.api.as_deref(),
        rec.scope.clone(),
        secret::generate_id(),
        now,
    )?;
    let refresh = if issues_refresh(client, &rec.scope) {
        Some(RefreshRecord {
            grant_id: rec.grant_id.clone(),
            client_id: client.id.clone(),
            subject: rec.subject.clone(),
            scope: rec.scope.clone(),
            api: rec.api.clone(),
            auth_time: rec.auth_time,
            amr: rec.amr.clone(),
            acr: rec.acr.clone(),
            sid: rec.sid.clone(),
            issued_at: now,
            expires_at: now.saturating_add(client.lifetimes.refresh_idle),
            medmij: None,
        })
    } else {
        None
    };
    let login = Login {
        auth_time: rec.auth_time,
        amr: &rec.amr,
        acr: rec.acr.as_deref(),
        sid: rec.sid.as_deref(),
        nonce: rec.nonce.as_deref(),
    };
    let body = respond(
        state,
        client,
        &user,
        &access,
        refresh.as_ref().map(|r| (r, None)),
        &login,
    )
    .await?;
    audit(
        state,
        "token_issued",
        "success",
        client,
        &rec.grant_id,
        Some(&rec.subject),
        rid,
    );
    Ok(no_store_json(&body))
}

/// `grant_type=refresh_token`.
pub(super) async fn refresh(
    state: &AppState,
    rid: &RequestId,
    form: &OAuthForm,
    client: &Arc<Client>,
) -> Result<Response, HttpError> {
    let requested = form.get("scope").map(ScopeSet::parse).transpose()?;
    let (rec, old) = present_refresh(state, rid, form, client).await?;
    let now = state.now();
    let grant = state.store().get_grant(&rec.grant_id).await?;
    let user = active_user(state, &rec.subject).await?;
    check_refresh(&rec, grant.as_ref(), user.as_ref(), client, now)?;
    let (Some(grant), Some(user)) = (grant, user) else {
        return Err(OAuthError::invalid_grant("the grant is gone").into());
    };
    // Today's policy, not the family's: the link, the API and the user's authorizations as they
    // are now (DESIGN.md §2).
    let authorized = match rec.api.as_deref() {
        Some(api) => {
            state
                .store()
                .authorized_scopes(&user.username, &user.groups, api)
                .await?
        }
        None => None,
    };
    let registry = state.registry();
    let scope = refresh_scope(
        &registry,
        client,
        &rec,
        requested.as_ref(),
        authorized.as_ref(),
    )?;
    let next = RefreshRecord {
        scope: scope.kept,
        issued_at: now,
        expires_at: now
            .saturating_add(client.lifetimes.refresh_idle)
            .min(grant.expires_at),
        ..rec.clone()
    };
    let access = code::user_access_token(
        &registry,
        client,
        &rec.grant_id,
        &rec.subject,
        rec.api.as_deref(),
        scope.access,
        secret::generate_id(),
        now,
    )?;
    let login = Login {
        auth_time: rec.auth_time,
        amr: &rec.amr,
        acr: rec.acr.as_deref(),
        sid: rec.sid.as_deref(),
        nonce: None,
    };
    let body = respond(
        state,
        client,
        &user,
        &access,
        Some((&next, Some(&old))),
        &login,
    )
    .await?;
    audit(
        state,
        "token_refreshed",
        "success",
        client,
        &rec.grant_id,
        Some(&rec.subject),
        rid,
    );
    Ok(no_store_json(&body))
}

/// The login behind a grant, for its ID tokens.
struct Login<'a> {
    auth_time: i64,
    amr: &'a [String],
    acr: Option<&'a str>,
    sid: Option<&'a str>,
    /// Only in the ID token of the code exchange (OpenID Connect Core §12.2).
    nonce: Option<&'a str>,
}

/// Stores the refresh token (rotating `old` when given), mints the access token and the ID
/// token, and builds the response. The refresh write comes first: nothing is returned that
/// depends on an uncommitted write.
async fn respond(
    state: &AppState,
    client: &Client,
    user: &User,
    access: &AccessToken,
    refresh: Option<(&RefreshRecord, Option<&Digest>)>,
    login: &Login<'_>,
) -> Result<Value, HttpError> {
    let refresh_value = match refresh {
        None => None,
        Some((rec, old)) => {
            let value = secret::generate_secret();
            let Some(new) = digest_of(&value) else {
                return Err(OAuthError::server_error("random source failed").into());
            };
            keep_refresh(state, client, &new, rec, old).await?;
            Some(value)
        }
    };
    let access_value = tokens::mint(state, access).await?;
    let mut body = json!({
        "access_token": access_value,
        "token_type": "Bearer",
        "expires_in": access.expires_at - access.issued_at,
        "scope": access.scope.to_string(),
    });
    if let Some(r) = refresh_value {
        body["refresh_token"] = Value::String(r);
    }
    if access.scope.contains("openid") {
        let id = mint_id_token(
            state,
            &IdTokenInput {
                client_id: &client.id,
                user,
                scope: &access.scope,
                auth_time: login.auth_time,
                nonce: login.nonce,
                acr: login.acr,
                amr: login.amr,
                sid: login.sid,
                access_token: &access_value,
                lifetime: client.lifetimes.id_token,
                alg: client.id_token_alg,
            },
        )?;
        body["id_token"] = Value::String(id);
    }
    Ok(body)
}
