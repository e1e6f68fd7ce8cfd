//! Outbound fetches are bounded (DESIGN.md §8): a client's `jwks_uri` is read with a size bound
//! enforced while the body arrives, fetched once for many concurrent assertions, and a failure is
//! remembered briefly so that assertions pointed at a failing URI cause no fetch each.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wissel_core::ports::{Clock, SystemClock};

use super::{Node, TestClock, assertion, assertion_claims, node, signer_key, start_node};

/// Registers `uri` as the `signer` client's `jwks_uri` (instead of its inline keys).
async fn point_signer_at(n: &Node, uri: &str) {
    let state = &n.server.state;
    let mut signer = (**state.registry().client("signer").unwrap()).clone();
    signer.credentials.jwks = None;
    signer.credentials.jwks_uri = Some(uri.to_owned());
    let plan = wissel_core::model::Provisioning {
        clients: vec![signer],
        ..Default::default()
    };
    state.store().apply(&plan, state.now()).await.unwrap();
    state.sync_config().await.unwrap();
}

/// A client-credentials request of `signer`, authenticated by a fresh assertion.
async fn signer_token(n: &Node) -> (StatusCode, Value) {
    let a = assertion(&assertion_claims(&n.base, SystemClock.now() + 60));
    let r = n
        .post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &a),
            ],
        )
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    (r.status(), r.json().await.unwrap())
}

/// A server that answers every request with a chunked JSON body of `total` bytes (a JWK Set
/// padded with whitespace, no `Content-Length`), counting the bytes it managed to send.
async fn chunked_jwks_server(total: usize, sent: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let sent = sent.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = sock.read(&mut head).await;
                let start = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                             Transfer-Encoding: chunked\r\n\r\n";
                if sock.write_all(start.as_bytes()).await.is_err() {
                    return;
                }
                let padding = vec![b' '; 64 * 1024];
                let mut body: Vec<&[u8]> = vec![b"{\"keys\":["];
                body.extend(std::iter::repeat_n(
                    padding.as_slice(),
                    total / padding.len(),
                ));
                body.push(b"]}");
                for part in body {
                    let chunk =
                        [format!("{:x}\r\n", part.len()).as_bytes(), part, b"\r\n"].concat();
                    if sock.write_all(&chunk).await.is_err() {
                        return;
                    }
                    sent.fetch_add(part.len(), Ordering::SeqCst);
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    url
}

/// A `jwks_uri` that streams a chunked body far larger than the bound (256 KiB): the assertion
/// is refused with `invalid_client`, and the node stops reading at the bound instead of
/// buffering the body (the server gets to send little more than what the sockets hold).
#[tokio::test]
async fn a_jwks_uri_streaming_an_endless_body_is_cut_off_at_the_bound() {
    const TOTAL: usize = 64 * 1024 * 1024;
    let sent = Arc::new(AtomicUsize::new(0));
    let uri = chunked_jwks_server(TOTAL, sent.clone()).await;
    let n = node().await;
    point_signer_at(&n, &uri).await;
    let (status, body) = signer_token(&n).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
    // Whatever the server still pushes into the closed connection's buffers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = sent.load(Ordering::SeqCst);
    super::notice(&format!(
        "a_jwks_uri_streaming_an_endless_body_is_cut_off_at_the_bound: the server sent {sent} of \
         {TOTAL} bytes"
    ));
    assert!(
        sent < TOTAL / 4,
        "the node read {sent} of {TOTAL} bytes: the body was not cut off at the bound"
    );
    n.server.shutdown().await;
}

/// A `jwks_uri` server that counts its requests and answers after `delay` with `status` (and
/// the signer's keys when it is 200).
async fn counting_jwks_server(
    status: StatusCode,
    delay: Duration,
    hits: Arc<AtomicUsize>,
) -> String {
    let jwks = signer_key().1.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            let body = jwks.clone();
            async move {
                tokio::time::sleep(delay).await;
                (status, axum::Json(body))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    uri
}

/// Twenty concurrent assertions of a client whose `jwks_uri` nobody fetched yet cause one fetch:
/// the others wait for it and use its result.
#[tokio::test]
async fn concurrent_assertions_for_a_cold_jwks_uri_fetch_it_once() {
    let hits = Arc::new(AtomicUsize::new(0));
    let uri = counting_jwks_server(StatusCode::OK, Duration::from_millis(300), hits.clone()).await;
    let n = Arc::new(node().await);
    point_signer_at(&n, &uri).await;
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let n = n.clone();
        all.spawn(async move { signer_token(&n).await });
    }
    while let Some(done) = all.join_next().await {
        let (status, body) = done.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one fetch for 20 assertions"
    );
    Arc::into_inner(n).unwrap().server.shutdown().await;
}

/// A failing `jwks_uri` is fetched once within the failure TTL (5 s of the node's clock), however
/// many assertions point at it; after that, it is tried again.
#[tokio::test]
async fn a_failing_jwks_uri_is_fetched_once_within_the_failure_ttl() {
    let hits = Arc::new(AtomicUsize::new(0));
    let uri = counting_jwks_server(
        StatusCode::INTERNAL_SERVER_ERROR,
        Duration::ZERO,
        hits.clone(),
    )
    .await;
    let clock = Arc::new(TestClock(AtomicI64::new(SystemClock.now())));
    let n = start_node(None, clock.clone()).await;
    point_signer_at(&n, &uri).await;
    for i in 0..10 {
        let (status, body) = signer_token(&n).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}: {body}");
        assert_eq!(body["error"], "invalid_client", "attempt {i}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one fetch for 10 assertions"
    );
    clock
        .0
        .fetch_add(wissel_http::fetch::JWKS_URI_FAILURE_TTL, Ordering::SeqCst);
    let (status, _) = signer_token(&n).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "fetched again once the failure is older than the TTL"
    );
    n.server.shutdown().await;
}
