//! Liveness, readiness (the database answers; with the MedMij profile, the OCL and the
//! Whitelist are in force) and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

pub(super) async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Each MedMij list's Volgnummer, Tijdstempel and age, and what became of chain events.
fn medmij_status(m: &crate::medmij::Medmij, now: i64) -> (bool, serde_json::Value) {
    use std::sync::atomic::Ordering;
    use wissel_medmij::ListKind;
    let lists = m.lists();
    let mut out = serde_json::Map::new();
    for kind in ListKind::ALL {
        let v = match lists.header(kind) {
            Some(h) => json!({
                "volgnummer": h.volgnummer,
                "tijdstempel": h.tijdstempel,
                "age_seconds": crate::medmij::list_age(&lists, kind, now),
            }),
            None => serde_json::Value::Null,
        };
        out.insert(kind.as_str().to_owned(), v);
    }
    let c = m.chain().counts();
    let ready = lists.ocl.is_some() && lists.whitelist.is_some();
    (
        ready,
        json!({
            "lists": out,
            "chain_log": {
                "written": c.written.load(Ordering::Relaxed),
                "dropped": c.dropped.load(Ordering::Relaxed),
                "shipped": c.shipped.load(Ordering::Relaxed),
                "undelivered": c.undelivered.load(Ordering::Relaxed),
            },
        }),
    )
}

/// The longest `/readyz` waits for the database: a down or hung database makes the node
/// unready within this bound, whatever the store's own deadlines.
const READY_PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let ping = match tokio::time::timeout(READY_PING_TIMEOUT, state.store().ping()).await {
        Ok(r) => r,
        Err(_) => Err(wissel_core::InternalError::unavailable(
            "the database did not answer within 1 s",
        )),
    };
    match ping {
        Ok(()) => match state.medmij() {
            None => axum::Json(json!({"status": "ready"})).into_response(),
            Some(m) => {
                let (ready, medmij) = medmij_status(m, state.now());
                if ready {
                    axum::Json(json!({"status": "ready", "medmij": medmij})).into_response()
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(json!({"status": "medmij lists missing", "medmij": medmij})),
                    )
                        .into_response()
                }
            }
        },
        Err(e) => {
            tracing::warn!(cause = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    (header::CACHE_CONTROL, "no-store"),
                    (header::RETRY_AFTER, crate::error::RETRY_AFTER_SECS),
                ],
                axum::Json(json!({"status": "database unavailable"})),
            )
                .into_response()
        }
    }
}

pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    // A list's age grows with time, not with events: set it when it is read.
    if let Some(m) = state.medmij() {
        let lists = m.lists();
        for kind in wissel_medmij::ListKind::ALL {
            if let (Some(h), Some(age)) = (
                lists.header(kind),
                crate::medmij::list_age(&lists, kind, state.now()),
            ) {
                metrics::gauge!("wissel_medmij_list_age_seconds", "list" => kind.as_str())
                    .set(age as f64);
                metrics::gauge!("wissel_medmij_list_volgnummer", "list" => kind.as_str())
                    .set(h.volgnummer as f64);
            }
        }
    }
    match state.metrics() {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "not_found", "error_description": "metrics are off"})),
        )
            .into_response(),
    }
}
