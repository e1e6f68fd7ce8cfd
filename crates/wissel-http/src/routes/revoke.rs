//! The revocation endpoint (RFC 7009). A client revokes its own tokens; anything else, including
//! an invalid or foreign token, is answered 200 with nothing written (RFC 7009 §2.2).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use wissel_core::flows::revoke::revocation_for;
use wissel_core::model::{Principal, TokenFormat};
use wissel_core::ports::AuditEvent;
use wissel_core::{ErrorCode, OAuthError};

use super::{Call, REVOKE_PATH, protocol_endpoint};
use crate::error::HttpError;
use crate::form::OAuthForm;
use crate::observe::RequestId;
use crate::state::AppState;
use crate::tokens;

pub(super) async fn revoke(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    cert: super::ClientCert,
    headers: HeaderMap,
    form: OAuthForm,
) -> Response {
    protocol_endpoint(REVOKE_PATH, state, rid, headers, form, cert, handle).await
}

async fn handle(call: Call<'_>) -> Result<Response, HttpError> {
    let Call {
        state,
        rid,
        form,
        auth,
        ..
    } = call;
    let Principal::Client(client) = auth.principal else {
        return Err(OAuthError::unauthorized_client(
            "only the client a token was issued to can revoke it",
        )
        .into());
    };
    let value = form.require("token")?;
    match form.get("token_type_hint") {
        None | Some("access_token" | "refresh_token") => {}
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedTokenType,
                "token_type_hint must be access_token or refresh_token",
            )
            .into());
        }
    }
    // A refresh token (RFC 7009 §2.1): revoking it revokes its grant, with every access token
    // issued from it.
    if value.len() == 43
        && let Some((rec, _)) = state
            .store()
            .find_refresh(&wissel_crypto::secret::digest(value.as_bytes()))
            .await?
        && rec.client_id == client.id
    {
        let lifetime =
            wissel_core::flows::code::longest_access_lifetime(&state.registry(), &client);
        state.revoke_grant(&rec.grant_id, lifetime).await?;
        state.audit(&AuditEvent {
            kind: "refresh_token_revoked",
            outcome: "success".into(),
            actor: Some(client.id.clone()),
            client: Some(client.id.clone()),
            api: rec.api.clone(),
            subject: Some(rec.subject.clone()),
            grant: Some(rec.grant_id.clone()),
            jti: None,
            request_id: Some(rid.0.clone()),
        });
        return Ok(ok());
    }
    // Found without today's policy: a token that does not stand now could stand again.
    let resolved = tokens::find(state, value).await.map_err(OAuthError::from)?;
    if let Some(r) = resolved
        && let Some(revocation) = revocation_for(&client.id, &r.token)
    {
        let opaque = (r.token.format == TokenFormat::Opaque).then_some(&r.digest);
        state.revoke(&revocation, opaque).await?;
        state.audit(&AuditEvent::about(
            "token_revoked",
            "success",
            &client.id,
            Some(&r.token),
            &rid.0,
        ));
    }
    Ok(ok())
}

fn ok() -> Response {
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}
