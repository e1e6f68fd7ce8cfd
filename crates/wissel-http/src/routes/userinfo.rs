//! The UserInfo endpoint (OpenID Connect Core §5.3), GET and POST, with the bearer token in the
//! `Authorization` header or (POST) the form body (RFC 6750 §2.1, §2.2). Errors per RFC 6750 §3.

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wissel_core::ports::AuditEvent;

use super::no_store_json;
use crate::form::{ParamList, read_body};
use crate::observe::{Outcome, RequestId};
use crate::oidc::released_claims;
use crate::state::AppState;
use crate::tokens;

/// Path of the UserInfo endpoint.
pub const USERINFO_PATH: &str = "/userinfo";

/// A 401/403 with `WWW-Authenticate: Bearer …` (RFC 6750 §3).
fn bearer_error(status: StatusCode, error: Option<&'static str>, description: &str) -> Response {
    let challenge = match error {
        Some(e) => {
            format!("Bearer realm=\"wissel\", error=\"{e}\", error_description=\"{description}\"")
        }
        None => "Bearer realm=\"wissel\"".to_owned(),
    };
    let mut r = match error {
        Some(e) => (
            status,
            axum::Json(json!({"error": e, "error_description": description})),
        )
            .into_response(),
        None => status.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.extensions_mut()
        .insert(Outcome::error(error.unwrap_or("invalid_request"), None));
    r
}

fn header_token(headers: &HeaderMap) -> Result<Option<&str>, ()> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let v = v.to_str().map_err(|_| ())?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(()),
    }
}

/// GET and POST /userinfo.
pub(super) async fn userinfo(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request<Body>,
) -> Response {
    let headers = req.headers().clone();
    let from_header = match header_token(&headers) {
        Ok(t) => t.map(str::to_owned),
        Err(()) => {
            return bearer_error(
                StatusCode::BAD_REQUEST,
                Some("invalid_request"),
                "malformed Authorization header",
            );
        }
    };
    let mut from_body = None;
    if req.method() == Method::POST {
        let form_ct = crate::form::is_form(&headers);
        let body = match read_body(req, state.settings()).await {
            Ok(b) => b,
            Err(e) => return e.into_response(),
        };
        if form_ct {
            let Some(p) = ParamList::parse(&body) else {
                return bearer_error(
                    StatusCode::BAD_REQUEST,
                    Some("invalid_request"),
                    "malformed form body",
                );
            };
            let mut tokens = p.values("access_token");
            from_body = tokens.next().map(str::to_owned);
            if tokens.next().is_some() {
                return bearer_error(
                    StatusCode::BAD_REQUEST,
                    Some("invalid_request"),
                    "access_token is repeated",
                );
            }
        }
    }
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return bearer_error(
                StatusCode::BAD_REQUEST,
                Some("invalid_request"),
                "the token was sent in more than one way",
            );
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return bearer_error(StatusCode::UNAUTHORIZED, None, ""),
    };
    let resolved = match tokens::resolve(&state, &token).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "the access token is invalid, expired or revoked",
            );
        }
        Err(e) => {
            if e.is_unavailable() {
                tracing::warn!(request_id = %rid.0, cause = %e.0, "userinfo unavailable");
            } else {
                tracing::error!(request_id = %rid.0, cause = %e.0, "userinfo failed");
            }
            return crate::error::HttpError::from(e).into_response();
        }
    };
    let t = &resolved.token;
    if !t.scope.contains("openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            "the access token was not granted the openid scope",
        );
    }
    // UserInfo is the client's own resource: a token whose audience is an API (a resource
    // indicator, token exchange, client credentials) is for that API, whatever its scope.
    if t.api != t.client_id {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            "the access token is for an API, not for UserInfo: present the token the client \
             received for itself",
        );
    }
    let user = match state.store().user_by_subject(&t.subject).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "the user is no longer active",
            );
        }
        Err(e) => return crate::error::HttpError::from(e).into_response(),
    };
    let mut claims = released_claims(&user, &t.scope);
    claims.insert("sub".into(), Value::String(user.subject.clone()));
    state.audit(&AuditEvent::about(
        "userinfo",
        "success",
        &t.client_id,
        Some(t),
        &rid.0,
    ));
    let mut r = no_store_json(&Value::Object(claims));
    r.extensions_mut().insert(Outcome {
        client: Some(t.client_id.clone()),
        ..Outcome::default()
    });
    r
}
