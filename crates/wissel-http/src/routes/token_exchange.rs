//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693) on behalf of a user:
//! the checks of `wissel_core::flows::exchange`, in their order, around the two reads a cache
//! can save (the subject token, the user's access to the API) and the one write an opaque token
//! needs.

use std::sync::Arc;

use axum::response::Response;
use serde_json::json;
use wissel_core::flows::exchange::{self, Announced, Exchange, Unusable};
use wissel_core::model::{AccessToken, Client, Digest};
use wissel_core::ports::AuditEvent;
use wissel_core::scope::ScopeSet;
use wissel_core::{InternalError, OAuthError};
use wissel_crypto::secret::{self, generate_id};

use super::no_store_json;
use crate::error::HttpError;
use crate::form::OAuthForm;
use crate::observe::RequestId;
use crate::oidc::ID_TOKEN_TYP;
use crate::state::AppState;
use crate::tokens;

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`. The client has authenticated
/// (check 1); a public client cannot exchange.
pub(super) async fn token_exchange(
    state: &AppState,
    rid: &RequestId,
    form: &OAuthForm,
    client: &Arc<Client>,
) -> Result<Response, HttpError> {
    let result = exchange(state, form, client).await;
    match result {
        Ok((token, issued_type, value)) => {
            // Ids only: which grant the new one derives from, for tracing a chain afterwards.
            tracing::info!(
                target: "wissel::audit",
                client = %client.id,
                api = %token.api,
                grant = %token.grant_id,
                parent_grant = token.derivation.parent().unwrap_or_default(),
                actor = token.derivation.act.as_ref().and_then(|a| a.get("sub")).and_then(|s| s.as_str()).unwrap_or_default(),
                "token exchange chain"
            );
            state.audit(&AuditEvent::about(
                "token_exchanged",
                "success",
                &client.id,
                Some(&token),
                &rid.0,
            ));
            Ok(no_store_json(&json!({
                "access_token": value,
                "issued_token_type": issued_type,
                "token_type": "Bearer",
                "expires_in": token.expires_at - token.issued_at,
                "scope": token.scope.to_string(),
            })))
        }
        Err(e) => {
            if let HttpError::OAuth { error, .. } = &e {
                state.audit(&AuditEvent {
                    kind: "token_exchanged",
                    outcome: error.code.as_str().to_owned(),
                    actor: Some(client.id.clone()),
                    client: Some(client.id.clone()),
                    api: None,
                    subject: None,
                    grant: None,
                    jti: None,
                    request_id: Some(rid.0.clone()),
                });
            }
            Err(e)
        }
    }
}

async fn exchange(
    state: &AppState,
    form: &OAuthForm,
    client: &Arc<Client>,
) -> Result<(AccessToken, &'static str, String), HttpError> {
    // Check 1, the rest of it: exchange is for clients that authenticate.
    if client.is_public() {
        return Err(OAuthError::invalid_client(
            "token exchange requires client authentication; a public client cannot exchange",
        )
        .into());
    }
    // Check 2: the subject token.
    let value = form.require("subject_token")?;
    let announced =
        exchange::check_token_type("subject_token_type", form.get("subject_token_type"))?;
    let subject = resolve_presented(state, "subject_token", value, announced).await?;
    let registry = state.registry();
    exchange::check_subject(&registry, client, &subject)?;
    // The parameters of the later checks are read before any of them runs, so that a malformed
    // request is `invalid_request` whatever else is wrong with it.
    let requested = form.get("scope").map(ScopeSet::parse).transpose()?;
    let requested_token_type = form.get("requested_token_type");
    exchange::check_requested_token_type(requested_token_type)?;
    let actor_param = match (form.get("actor_token"), form.get("actor_token_type")) {
        (None, None) => None,
        (Some(v), Some(t)) => Some((v, t)),
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type is required with actor_token",
            )
            .into());
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type is given without actor_token",
            )
            .into());
        }
    };
    let resources = super::token::parse_resources(form)?;
    // Check 3: the target API.
    let api = exchange::target(&registry, form.all("audience"), &resources)?;
    // Check 4: the API trusts this client; delegation needs the link's permission.
    let link = exchange::trust(&registry, client, &api)?;
    let act = match actor_param {
        None => None,
        Some((value, ty)) => {
            // Refused before the actor token is even looked at.
            exchange::may_delegate(&link)?;
            let announced = exchange::check_token_type("actor_token_type", Some(ty))?;
            let actor = resolve_presented(state, "actor_token", value, announced)
                .await
                .map_err(|e| match e {
                    // RFC 8693 §2.2.2: an unacceptable actor token is `invalid_request`.
                    HttpError::OAuth { error, basic } => HttpError::OAuth {
                        error: exchange::as_actor_refusal(error),
                        basic,
                    },
                    other => other,
                })?;
            Some(exchange::check_actor(client, &link, &subject, &actor)?)
        }
    };
    // Checks 5 and 6.
    let access = state.user_access(&subject.subject, &api.id).await?;
    let jti = generate_id();
    let grant_id = generate_id();
    if jti.is_empty() || grant_id.is_empty() {
        return Err(OAuthError::server_error("random source failed").into());
    }
    let issued = exchange::decide(
        Exchange {
            client,
            api: &api,
            link: &link,
            subject: &subject,
            act,
            requested: requested.as_ref(),
            requested_token_type,
            now: state.now(),
            jti,
            grant_id,
        },
        &access,
    )?;
    let value = tokens::mint(state, &issued.token).await?;
    Ok((issued.token, issued.issued_token_type, value))
}

/// Resolves a presented subject or actor token to an active access token of ours. Anything else
/// gets the one `invalid_grant` of [`exchange::unusable`], whatever it is: only the log says
/// whether it was an ID token, a refresh token or nothing of ours.
async fn resolve_presented(
    state: &AppState,
    param: &'static str,
    value: &str,
    announced: Announced,
) -> Result<Arc<AccessToken>, HttpError> {
    let is_jwt = value.contains('.');
    if announced == Announced::Jwt && !is_jwt {
        return Err(OAuthError::invalid_request(format!(
            "{param} is not a JWT, but its type says urn:ietf:params:oauth:token-type:jwt"
        ))
        .into());
    }
    if let Some(r) = tokens::resolve(state, value)
        .await
        .map_err(OAuthError::from)?
    {
        return Ok(r.token);
    }
    // Only failures get here, and the reason goes to the log alone. Looking a non-JWT value up
    // as a refresh token costs one indexed read whether it is one or not.
    let reason = if is_jwt {
        if state
            .keys()
            .verify::<serde_json::Value>(value, ID_TOKEN_TYP)
            .is_some()
        {
            Unusable::IdToken
        } else {
            Unusable::NotActive
        }
    } else if is_refresh_token(state, value).await? {
        Unusable::RefreshToken
    } else {
        Unusable::NotActive
    };
    Err(exchange::unusable(param, reason).into())
}

async fn is_refresh_token(state: &AppState, value: &str) -> Result<bool, InternalError> {
    if value.len() != 43 {
        return Ok(false);
    }
    let digest: Digest = secret::digest(value.as_bytes());
    Ok(state.store().find_refresh(&digest).await?.is_some())
}
