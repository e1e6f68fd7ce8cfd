//! Request ids, one structured log line per request, Prometheus metrics, and the audit sink that
//! writes audit events to the log. Never a secret or a token value.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use wissel_core::ports::{AuditEvent, AuditSink};

use crate::state::AppState;

/// What a handler reports about a request, for the log line and the metrics.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The authenticated client or API.
    pub client: Option<String>,
    /// The grant type of a token request.
    pub grant_type: Option<&'static str>,
    /// The OAuth error code, when the request failed.
    pub error: Option<&'static str>,
    /// An internal cause (a server error's, or a refusal's reason the client is not told),
    /// logged and never shown.
    pub internal: Option<String>,
}

impl Outcome {
    /// A failed request.
    pub fn error(code: &'static str, internal: Option<String>) -> Self {
        Self {
            error: Some(code),
            internal,
            ..Self::default()
        }
    }
}

/// The id of a request: the caller's `X-Request-ID` when it is sane, otherwise a new one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
    .then(|| s.to_owned())
}

/// The middleware: request id in, request id out, a log line and metrics per request.
pub async fn track(State(_state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(sane_request_id)
        .unwrap_or_else(wissel_crypto::secret::generate_id);
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(request_id.clone()));

    let mut resp = next.run(req).await;

    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let outcome = resp
        .extensions_mut()
        .remove::<Outcome>()
        .unwrap_or_default();
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let grant_type = outcome.grant_type.unwrap_or("");
    let error = outcome.error.unwrap_or("");
    metrics::counter!("wissel_http_requests_total",
        "endpoint" => endpoint.clone(), "grant_type" => grant_type, "error" => error, "status" => status.to_string())
    .increment(1);
    metrics::histogram!("wissel_http_request_duration_seconds", "endpoint" => endpoint.clone())
        .record(elapsed.as_secs_f64());
    let client = outcome.client.as_deref().unwrap_or("");
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if let Some(cause) = outcome.internal.as_deref().filter(|_| status >= 500) {
        tracing::error!(request_id, %method, endpoint, status, client, grant_type, error, latency_us, cause, "request failed");
    } else if let Some(cause) = outcome.internal {
        // A refusal whose reason the client is not told (token exchange): the log keeps it.
        tracing::info!(request_id, %method, endpoint, status, client, grant_type, error, latency_us, cause, "request refused");
    } else if status >= 400 {
        tracing::info!(request_id, %method, endpoint, status, client, grant_type, error, latency_us, "request refused");
    } else {
        tracing::debug!(request_id, %method, endpoint, status, client, grant_type, latency_us, "request");
    }
    resp
}

/// Writes audit events to the log under the target `wissel::audit`, one JSON object each.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogAudit;

impl AuditSink for LogAudit {
    fn record(&self, e: &AuditEvent) {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        tracing::info!(
            target: "wissel::audit",
            event = e.kind,
            outcome = e.outcome,
            actor = o(&e.actor),
            client = o(&e.client),
            api = o(&e.api),
            subject = o(&e.subject),
            grant = o(&e.grant),
            jti = o(&e.jti),
            request_id = o(&e.request_id),
            "audit"
        );
    }
}
