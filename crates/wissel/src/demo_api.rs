//! The example API of `wissel demo`: the Orders API as a resource server built on
//! `wissel-resource`. It accepts a bearer token (from token exchange, say), has it validated by
//! introspection — authenticating as `orders-api` — and answers with what it learned: steps 3 to
//! 6 of the token-exchange flow (docs/token-exchange.md).

use axum::Router;
use axum::extract::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use wissel_resource::{
    BearerLayer, ClientAuth, IntrospectionConfig, IntrospectionValidator, Principal,
};

/// Where the example API answers.
pub const DEMO_API_PATH: &str = "/demo/api/orders";

/// The API id the example API is, and the scope it requires.
pub const DEMO_API_ID: &str = "orders-api";
const REQUIRED_SCOPE: &str = "orders:read";

/// The example API's routes: `GET /demo/api/orders`, behind the bearer layer.
pub fn router(issuer: &str, secret: &str) -> anyhow::Result<Router> {
    let endpoint = url::Url::parse(&format!("{issuer}/introspect"))?;
    let mut cfg = IntrospectionConfig::new(
        endpoint,
        DEMO_API_ID,
        ClientAuth::SecretBasic(secret.to_owned()),
    );
    cfg.cache_ttl = std::time::Duration::from_secs(30);
    let validator = IntrospectionValidator::new(cfg)?;
    Ok(Router::new()
        .route(DEMO_API_PATH, get(orders))
        .route_layer(BearerLayer::new(validator).require_scope(REQUIRED_SCOPE)))
}

async fn orders(Extension(p): Extension<Principal>) -> Response {
    let who = p
        .claims
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or(p.sub.as_str())
        .to_owned();
    let mut r = axum::Json(json!({
        "api": DEMO_API_ID,
        "answer": format!("Hello {who}: here are your orders (you may {}).",
            p.scopes.iter().cloned().collect::<Vec<_>>().join(", ")),
        "orders": [{"id": 1, "item": "stroopwafels", "quantity": 12}],
        "learned_by_introspection": p,
    }))
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
