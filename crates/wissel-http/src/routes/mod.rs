//! The routes. Handlers are thin: extract, authenticate, call one flow, map the result.

mod discovery;
mod introspect;
mod ops;
mod revoke;
mod token;

use axum::Router;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use axum::http::HeaderMap;

use crate::client_auth::{Authenticated, authenticate};
use crate::error::HttpError;
use crate::form::OAuthForm;
use crate::observe::{Outcome, RequestId, track};
use crate::state::AppState;

/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/token";
/// Path of the introspection endpoint.
pub const INTROSPECT_PATH: &str = "/introspect";
/// Path of the revocation endpoint.
pub const REVOKE_PATH: &str = "/revoke";
/// Path of the JWKS.
pub const JWKS_PATH: &str = "/jwks";

/// The whole HTTP application of one node.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route(JWKS_PATH, get(discovery::jwks))
        .route(TOKEN_PATH, post(token::token))
        .route(INTROSPECT_PATH, post(introspect::introspect))
        .route(REVOKE_PATH, post(revoke::revoke))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { HttpError::NotFound })
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// A protocol request whose caller has authenticated at the endpoint.
struct Call<'a> {
    state: &'a AppState,
    rid: &'a RequestId,
    headers: &'a HeaderMap,
    form: &'a OAuthForm,
    auth: Authenticated,
    outcome: &'a mut Outcome,
}

/// Runs a protocol endpoint: authenticates the caller at `path` (an acceptable assertion
/// audience), runs `handle`, and maps the result, recording who called and how it went.
async fn protocol_endpoint<H>(
    path: &'static str,
    state: AppState,
    rid: RequestId,
    headers: HeaderMap,
    form: OAuthForm,
    handle: H,
) -> Response
where
    H: for<'a> AsyncFnOnce(Call<'a>) -> Result<Response, HttpError>,
{
    let mut outcome = Outcome::default();
    let result = match authenticate(&state, &headers, &form, &state.settings().endpoint(path)).await
    {
        Ok(auth) => {
            outcome.client = Some(auth.principal.id().to_owned());
            let call = Call {
                state: &state,
                rid: &rid,
                headers: &headers,
                form: &form,
                auth,
                outcome: &mut outcome,
            };
            handle(call).await
        }
        Err(e) => Err(e),
    };
    finish(result, outcome)
}

/// Turns a handler's result into the response, recording who called and how it went.
fn finish(result: Result<Response, HttpError>, mut outcome: Outcome) -> Response {
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    if let Some(err) = resp.extensions_mut().remove::<Outcome>() {
        outcome.error = err.error;
        outcome.internal = err.internal;
    }
    resp.extensions_mut().insert(outcome);
    resp
}

/// JSON with `Cache-Control: no-store` (RFC 6749 §5.1).
fn no_store_json(value: &serde_json::Value) -> Response {
    use axum::http::{HeaderValue, header};
    let mut r = axum::Json(value).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}
