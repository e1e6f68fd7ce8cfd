//! What an anonymous caller can make the server store: pending requests bounded per address,
//! failed-login rows bounded by the address throttle, and a purge that leaves no expired row.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use wissel_core::grant::Interaction;
use wissel_core::ports::{Clock, SystemClock};

use super::code_flow::count;
use super::{notice, start_node_edited};

/// 100,000 anonymous requests from one address (half `GET /authorize` of a public client, half
/// `GET /account`), then 1,000 failed logins with distinct usernames, driven in-process through
/// the router: the tables they could grow stay bounded by the per-address budgets.
#[tokio::test]
async fn a_hundred_thousand_anonymous_requests_leave_the_tables_bounded() {
    let n = start_node_edited(None, Arc::new(SystemClock), None, false, |t| t).await;
    let app = wissel_http::routes::router(n.server.state.clone());
    let peer: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let challenge =
        wissel_crypto::pkce::s256("a-verifier-that-is-long-enough-for-rfc-7636-0123456789");
    let authorize = format!(
        "/authorize?response_type=code&client_id=public-app&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb\
         &scope=openid&code_challenge={challenge}&code_challenge_method=S256"
    );
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let mut req = req;
            req.extensions_mut().insert(ConnectInfo(peer));
            app.oneshot(req).await.unwrap()
        }
    };
    const N: usize = 100_000;
    let started = Instant::now();
    let mut first: Option<(String, String)> = None;
    let mut refused = 0;
    for k in 0..N {
        let uri = if k % 2 == 0 {
            authorize.as_str()
        } else {
            "/account"
        };
        let r = send(Request::get(uri).body(Body::empty()).unwrap()).await;
        match r.status() {
            StatusCode::SEE_OTHER => {
                if first.is_none() {
                    let to = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
                    let csrf = r.headers()[header::SET_COOKIE].to_str().unwrap();
                    let csrf = csrf
                        .split(';')
                        .next()
                        .unwrap()
                        .split_once('=')
                        .unwrap()
                        .1
                        .to_owned();
                    first = Some((super::code_flow::interaction_of(&to), csrf));
                }
            }
            StatusCode::TOO_MANY_REQUESTS => {
                if refused == 0 {
                    assert_eq!(r.headers()[header::RETRY_AFTER], "600");
                    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
                    let body = axum::body::to_bytes(r.into_body(), 64 * 1024)
                        .await
                        .unwrap();
                    let body = String::from_utf8_lossy(&body);
                    assert!(body.contains("data-kind=\"too_many_requests\""), "{body}");
                }
                refused += 1;
            }
            other => panic!("request {k}: {other}"),
        }
    }
    let requests_took = started.elapsed();
    let (i, csrf) = first.unwrap();
    let started = Instant::now();
    for k in 0..1_000 {
        let body = format!("i={i}&csrf={csrf}&username=nobody-{k}&password=wrong");
        let r = send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, format!("wissel-csrf={csrf}"))
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        assert!(r.status().is_client_error(), "login {k}: {}", r.status());
    }
    let logins_took = started.elapsed();
    let interactions = count(&n, "SELECT COUNT(*) FROM interactions").await;
    let failures = count(&n, "SELECT COUNT(*) FROM login_failures").await;
    notice(&format!(
        "{N} anonymous requests in {requests_took:?} ({refused} refused with 429), 1000 failed \
         logins in {logins_took:?}: {interactions} interactions rows, {failures} login_failures rows"
    ));
    assert!(
        interactions <= 1_000,
        "{interactions} pending requests stored for one address"
    );
    assert!(
        failures <= 40,
        "{failures} login_failures rows for one address"
    );
    n.server.shutdown().await;
}

/// The maintenance loop purges every expired row, in bounded batches, not one batch per table
/// per round: 2,500 expired pending requests with `storage.purge_batch = 100` are all gone after
/// one round (here once a second).
#[tokio::test]
async fn the_purge_leaves_no_expired_row_behind() {
    let n = start_node_edited(None, Arc::new(SystemClock), None, false, |t| {
        t.replacen("[server]", "[server]\nmaintenance_interval_secs = 1", 1)
            .replacen("[storage]", "[storage]\npurge_batch = 100", 1)
    })
    .await;
    let store = n.server.state.store();
    let now = SystemClock.now();
    for k in 0..2_500 {
        store
            .put_interaction(&Interaction {
                id: format!("expired-{k}"),
                request: None,
                csrf: wissel_crypto::secret::digest(b"csrf"),
                created_at: now - 700,
                expires_at: now - 100,
            })
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_millis(2_500);
    let mut left = count(&n, "SELECT COUNT(*) FROM interactions").await;
    while left > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = count(&n, "SELECT COUNT(*) FROM interactions").await;
    }
    assert_eq!(left, 0, "expired pending requests left after the purge");
    n.server.shutdown().await;
}
