//! The routes. Handlers are thin: extract, authenticate, call one flow, map the result.

mod account;
mod authorize;
mod demo_rp;
mod discovery;
mod introspect;
mod logout;
mod medmij_authorize;
mod medmij_token;
mod ops;
mod revoke;
mod token;
mod token_exchange;
mod token_user;
mod userinfo;

pub use account::ACCOUNT_PATH;
pub use authorize::{AUTHORIZE_PATH, CONSENT_PATH, LOGIN_PATH};
pub use demo_rp::{DEMO_CALLBACK_PATH, DEMO_CLIENT_ID, DEMO_PATH};
pub use logout::LOGOUT_PATH;
pub use userinfo::USERINFO_PATH;

use axum::Router;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use axum::http::HeaderMap;

use crate::client_auth::{Authenticated, PeerCertificate, authenticate};
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
    let mut app = Router::new()
        .route(
            AUTHORIZE_PATH,
            get(authorize::authorize).post(authorize::authorize),
        )
        .route(
            LOGIN_PATH,
            get(authorize::login_page).post(authorize::login_submit),
        )
        .route(
            CONSENT_PATH,
            get(authorize::consent_page).post(authorize::consent_submit),
        )
        .route(
            USERINFO_PATH,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(LOGOUT_PATH, get(logout::logout).post(logout::logout))
        .route(ACCOUNT_PATH, get(account::account))
        .route(account::REVOKE_CONSENT_PATH, post(account::revoke_consent))
        .route(account::END_SESSION_PATH, post(account::end_session))
        .route(
            account::END_MEDMIJ_CONSENT_PATH,
            get(account::medmij_end_page).post(account::end_medmij_consent),
        )
        .route("/static/wissel.css", get(crate::pages::stylesheet))
        .route("/static/form_post.js", get(crate::pages::form_post_js));
    if let Some(css) = state.settings().ui.stylesheet.clone() {
        app = app.route(
            "/static/theme.css",
            get(move || async move { crate::pages::theme_css(&css) }),
        );
    }
    if let Some((bytes, ct)) = state.settings().ui.logo.clone() {
        app = app.route(
            "/static/logo",
            get(move || async move { crate::pages::logo(&bytes, ct) }),
        );
    }
    if state.settings().login.demo_rp {
        app = app
            .route(DEMO_PATH, get(demo_rp::start))
            .route(DEMO_CALLBACK_PATH, get(demo_rp::callback));
    }
    if state.settings().acmidm_path_aliases {
        // ACM/IDM's paths, for clients written against it (docs/profiles.md).
        app = app
            .route(
                "/op/v1/auth",
                get(authorize::authorize).post(authorize::authorize),
            )
            .route("/op/v1/token", post(token::token))
            .route(
                "/op/v1/userinfo",
                get(userinfo::userinfo).post(userinfo::userinfo),
            )
            .route("/op/v1/logout", get(logout::logout).post(logout::logout))
            .route("/op/v1/keys", get(discovery::jwks))
            .route("/op/v1/introspect", post(introspect::introspect));
    }
    app.route(
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
    .layer(middleware::map_response_with_state(state.clone(), hsts))
    .layer(middleware::from_fn_with_state(state.clone(), track))
    .with_state(state)
}

/// `Strict-Transport-Security` on every response when wissel terminates TLS itself: a browser
/// that once reached it over HTTPS never again sends its cookies or forms over plain HTTP. One
/// year, this host only (wissel does not know its sibling hosts). Behind a TLS-terminating
/// proxy, the proxy sets it; over plain HTTP it must not be sent (RFC 6797 §7.2).
async fn hsts(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut resp: Response,
) -> Response {
    if state.settings().hsts {
        resp.headers_mut().insert(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}

/// The client certificate of the request's TLS connection, when it presented one.
pub(crate) type ClientCert = Option<axum::Extension<std::sync::Arc<PeerCertificate>>>;

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
    cert: ClientCert,
    handle: H,
) -> Response
where
    H: for<'a> AsyncFnOnce(Call<'a>) -> Result<Response, HttpError>,
{
    let mut outcome = Outcome::default();
    let cert = cert.as_ref().map(|c| c.0.as_ref());
    let result = match authenticate(
        &state,
        &headers,
        &form,
        &state.settings().endpoint(path),
        cert,
    )
    .await
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
