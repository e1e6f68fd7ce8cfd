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
    headers: HeaderMap,
    form: OAuthForm,
) -> Response {
    protocol_endpoint(REVOKE_PATH, state, rid, headers, form, handle).await
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
    let resolved = tokens::resolve(state, value)
        .await
        .map_err(OAuthError::from)?;
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
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}
