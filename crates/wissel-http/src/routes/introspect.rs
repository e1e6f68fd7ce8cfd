//! The introspection endpoint (RFC 7662), with signed responses on request (RFC 9701).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wissel_core::OAuthError;
use wissel_core::flows::introspect::{active_response, inactive_response, may_see};
use wissel_core::model::{ClientAuthMethod, Profile};
use wissel_core::ports::AuditEvent;

use super::{Call, INTROSPECT_PATH, no_store_json, protocol_endpoint};
use crate::error::HttpError;
use crate::form::OAuthForm;
use crate::observe::RequestId;
use crate::state::AppState;
use crate::tokens;

/// The `typ` of the acmidm profile's signed `jwt` member: never `at+jwt`, so that the copy
/// cannot pass for an access token.
const ACMIDM_JWT_TYP: &str = "token-introspection+jwt";

/// The media type of a signed introspection response (RFC 9701 §5).
const JWT_RESPONSE: &str = "application/token-introspection+jwt";

pub(super) async fn introspect(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    cert: super::ClientCert,
    headers: HeaderMap,
    form: OAuthForm,
) -> Response {
    protocol_endpoint(INTROSPECT_PATH, state, rid, headers, form, cert, handle).await
}

fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(JWT_RESPONSE))
        })
}

async fn handle(call: Call<'_>) -> Result<Response, HttpError> {
    let Call {
        state,
        rid,
        headers,
        form,
        auth,
        ..
    } = call;
    let caller = auth.principal;
    if auth.method == ClientAuthMethod::None {
        // RFC 7662 §2.1: the caller of the introspection endpoint authenticates.
        return Err(OAuthError::invalid_client("a public client cannot introspect").into());
    }
    let value = form.require("token")?;
    let resolved = tokens::resolve(state, value)
        .await
        .map_err(OAuthError::from)?;
    let registry = state.registry();
    let visible = resolved.filter(|r| may_see(&caller, &r.token));
    let mut members = match &visible {
        Some(r) => active_response(&state.settings().issuer, &r.token, &registry),
        None => inactive_response(),
    };
    // The acmidm profile: a signed copy of the response as the `jwt` member.
    if let Some(r) = &visible
        && registry
            .client(&r.token.client_id)
            .is_some_and(|c| c.profile == Profile::Acmidm)
    {
        let jwt = state
            .keys()
            .sign(ACMIDM_JWT_TYP, &members)
            .map_err(OAuthError::server_error)?;
        members.insert("jwt".into(), Value::String(jwt));
    }
    let outcome_name = if visible.is_some() {
        "active"
    } else {
        "inactive"
    };
    state.audit(&AuditEvent::about(
        "token_introspected",
        outcome_name,
        caller.id(),
        visible.as_ref().map(|r| r.token.as_ref()),
        &rid.0,
    ));
    if !wants_jwt(headers) {
        return Ok(no_store_json(&Value::Object(members)));
    }
    let claims = json!({
        "iss": state.settings().issuer,
        "aud": caller.id(),
        "iat": state.now(),
        "token_introspection": Value::Object(members),
    });
    let jwt = state
        .keys()
        .sign("token-introspection+jwt", &claims)
        .map_err(OAuthError::server_error)?;
    let mut r = jwt.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JWT_RESPONSE));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
