//! The token endpoint (RFC 6749 §3.2). Grants: `client_credentials`, `authorization_code`
//! (with PKCE), `refresh_token` and token exchange (RFC 8693).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::json;
use wissel_core::flows::client_credentials::{self, ClientCredentialsRequest, NewIds};
use wissel_core::model::{ClientAuthMethod, GrantType, Principal};
use wissel_core::ports::AuditEvent;
use wissel_core::scope::ScopeSet;
use wissel_core::{ErrorCode, OAuthError};
use wissel_crypto::secret::generate_id;

use super::{Call, TOKEN_PATH, no_store_json, protocol_endpoint};
use crate::error::HttpError;
use crate::form::OAuthForm;
use crate::observe::RequestId;
use crate::state::AppState;
use crate::tokens;

pub(super) async fn token(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    cert: super::ClientCert,
    uri: Uri,
    headers: HeaderMap,
    form: Result<OAuthForm, HttpError>,
) -> Response {
    // The MedMij token interface has rules of its own (tracing headers, chain logging).
    if let Some(m) = state.medmij()
        && super::medmij_token::is_medmij_request(m, &headers, form.as_ref().ok(), uri.query())
    {
        let form = super::medmij_token::medmij_form(m, form, uri.query());
        let cert = cert.as_ref().map(|c| c.0.as_ref());
        return super::medmij_token::token(&state, &rid, m, &headers, form, cert).await;
    }
    let form = match form {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    protocol_endpoint(TOKEN_PATH, state, rid, headers, form, cert, handle).await
}

pub(super) fn parse_resources(form: &OAuthForm) -> Result<Vec<String>, OAuthError> {
    let values = form.all("resource");
    for r in values {
        // RFC 8707 §2: an absolute URI without a fragment.
        match url::Url::parse(r) {
            Ok(u) if u.fragment().is_none() => {}
            _ => {
                return Err(OAuthError::invalid_target(
                    "resource must be an absolute URI without a fragment",
                ));
            }
        }
    }
    Ok(values.to_vec())
}

async fn handle(call: Call<'_>) -> Result<Response, HttpError> {
    let Call {
        state,
        rid,
        form,
        auth,
        outcome,
        ..
    } = call;
    let grant_type = form.require("grant_type")?;
    let Principal::Client(client) = auth.principal else {
        return Err(HttpError::OAuth {
            error: OAuthError::invalid_client("an API cannot obtain tokens"),
            basic: auth.method == ClientAuthMethod::ClientSecretBasic,
        });
    };
    let Some(grant) = GrantType::parse(grant_type) else {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "supported grant_type: client_credentials, authorization_code, refresh_token, \
             urn:ietf:params:oauth:grant-type:token-exchange",
        )
        .into());
    };
    outcome.grant_type = Some(grant.as_str());
    if !client.allows(grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {} grant",
            grant.as_str()
        ))
        .into());
    }
    match grant {
        GrantType::ClientCredentials => {}
        GrantType::AuthorizationCode => {
            return super::token_user::authorization_code(state, rid, form, &client).await;
        }
        GrantType::RefreshToken => {
            return super::token_user::refresh(state, rid, form, &client).await;
        }
        GrantType::TokenExchange => {
            return super::token_exchange::token_exchange(state, rid, form, &client).await;
        }
    }
    if client.is_public() {
        return Err(OAuthError::unauthorized_client(
            "a public client cannot use client_credentials",
        )
        .into());
    }
    let req = ClientCredentialsRequest {
        scope: form.get("scope").map(ScopeSet::parse).transpose()?,
        audience: form.all("audience").to_vec(),
        resource: parse_resources(form)?,
        requested_token_type: form.get("requested_token_type").map(str::to_owned),
    };
    let ids = NewIds {
        jti: generate_id(),
        grant_id: generate_id(),
    };
    if ids.jti.is_empty() || ids.grant_id.is_empty() {
        return Err(OAuthError::server_error("random source failed").into());
    }
    let registry = state.registry();
    let decided = client_credentials::decide(&registry, &client, &req, state.now(), ids)?;
    let value = tokens::mint(state, &decided).await?;
    state.audit(&AuditEvent::about(
        "token_issued",
        "success",
        &client.id,
        Some(&decided),
        &rid.0,
    ));
    Ok(no_store_json(&json!({
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": decided.expires_at - decided.issued_at,
        "scope": decided.scope.to_string(),
    })))
}
