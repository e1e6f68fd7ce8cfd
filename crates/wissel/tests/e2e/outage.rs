//! Database outages: a node whose PostgreSQL goes down or hangs answers `503
//! temporarily_unavailable` with `Retry-After` within its deadlines, never hangs, keeps serving
//! what needs no database, and recovers by itself when the database is back.
//!
//! The outage is made by a small TCP proxy between the node and the test PostgreSQL server (the
//! shared server itself is never touched): "down" closes every connection and stops listening
//! (connection refused), "hung" accepts and holds connections but forwards nothing (a frozen
//! server process), "up" forwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use wissel_core::ports::SystemClock;

use super::{BACKEND_SECRET, Node, WEBAPP_SECRET, http, postgres_database, start_node_edited};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Up,
    Down,
    Hung,
}

/// A TCP proxy to `upstream` on a fixed local port, switched between [`Mode`]s.
struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let (mode, rx) = watch::channel(Mode::Up);
        let task = tokio::spawn(serve(first, port, upstream, rx));
        Self { port, mode, task }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bind(port: u16) -> Option<TcpListener> {
    let s = TcpSocket::new_v4().ok()?;
    s.set_reuseaddr(true).ok()?;
    s.bind(([127, 0, 0, 1], port).into()).ok()?;
    s.listen(128).ok()
}

/// Listens while the mode is not `Down` (a stopped server refuses connections), and hands each
/// accepted connection to [`relay`].
async fn serve(first: TcpListener, port: u16, upstream: String, mut mode: watch::Receiver<Mode>) {
    let mut listener = Some(first);
    loop {
        let current = *mode.borrow_and_update();
        if current == Mode::Down {
            listener = None;
            if mode.changed().await.is_err() {
                return;
            }
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match bind(port) {
                Some(l) => l,
                None => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((client, _)) = accepted {
                    tokio::spawn(relay(client, upstream.clone(), mode.clone()));
                }
            }
            _ = mode.changed() => {}
        }
        listener = Some(l);
    }
}

/// Waits while the mode is `Hung`; false once it is `Down` (the connection is then dropped).
async fn wait_up(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Up => return true,
            Mode::Down => return false,
            Mode::Hung => {
                if mode.changed().await.is_err() {
                    return false;
                }
            }
        }
    }
}

async fn relay(client: TcpStream, upstream: String, mut mode: watch::Receiver<Mode>) {
    if !wait_up(&mut mode).await {
        return;
    }
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // When either direction ends (or the mode goes down), both sockets are dropped.
    tokio::select! {
        _ = pump(cr, sw, mode.clone()) => {}
        _ = pump(sr, cw, mode.clone()) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !wait_up(&mut mode).await {
            return;
        }
        tokio::select! {
            read = from.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                // Data read just as the server froze is held, not forwarded.
                if !wait_up(&mut mode).await || to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// What a caller sees of one request.
struct Seen {
    status: StatusCode,
    retry_after: Option<String>,
    cache_control: Option<String>,
    body: String,
    took: Duration,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// `503 temporarily_unavailable` with `Retry-After` and `no-store`, as JSON.
    fn assert_unavailable_json(&self, what: &str) {
        assert_eq!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {}",
            self.body
        );
        assert_eq!(self.json()["error"], "temporarily_unavailable", "{what}");
        assert!(
            self.json()["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty() && !d.contains("database")),
            "{what}: a clear description that names no internals: {}",
            self.body
        );
        assert!(self.retry_after.is_some(), "{what}: Retry-After");
        assert_eq!(self.cache_control.as_deref(), Some("no-store"), "{what}");
    }
}

async fn seen(rb: reqwest::RequestBuilder) -> Seen {
    let started = Instant::now();
    let r = rb.send().await.unwrap();
    let status = r.status();
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after");
    let cache_control = header("cache-control");
    let body = r.text().await.unwrap();
    Seen {
        status,
        retry_after,
        cache_control,
        body,
        took: started.elapsed(),
    }
}

/// A client-credentials request for the opaque-token API: one row written per token.
fn opaque_token(n: &Node) -> reqwest::RequestBuilder {
    http()
        .post(n.url("/token"))
        .basic_auth("backend", Some(BACKEND_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "billing-api"),
        ])
}

/// A client-credentials request for the JWT API: needs no database.
fn jwt_token(n: &Node) -> reqwest::RequestBuilder {
    http()
        .post(n.url("/token"))
        .basic_auth("backend", Some(BACKEND_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "orders-api"),
        ])
}

/// A code redemption: spends the code with one conditional update (this code is unknown, so a
/// reachable database answers `invalid_grant`).
fn redeem_code(n: &Node) -> reqwest::RequestBuilder {
    http()
        .post(n.url("/token"))
        .basic_auth("webapp", Some(WEBAPP_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "an-unknown-code-of-43-characters-0123456789"),
            ("redirect_uri", "https://webapp.example/cb"),
            (
                "code_verifier",
                "a-verifier-that-is-long-enough-for-rfc-7636-0123456789",
            ),
        ])
}

/// The authorization endpoint: stores a pending request, then sends the browser to the login
/// page (303).
fn authorize(n: &Node) -> reqwest::RequestBuilder {
    let challenge =
        wissel_crypto::pkce::s256("a-verifier-that-is-long-enough-for-rfc-7636-0123456789");
    http().get(n.url(&format!(
        "/authorize?response_type=code&client_id=public-app&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb\
         &scope=openid&code_challenge={challenge}&code_challenge_method=S256"
    )))
}

fn readyz(n: &Node) -> reqwest::RequestBuilder {
    http().get(n.url("/readyz"))
}

/// Everything that needs the database works again: the time from `since` until it does.
async fn recovered(n: &Node, since: Instant, bound: Duration) -> Duration {
    loop {
        let t = seen(opaque_token(n)).await;
        let c = seen(redeem_code(n)).await;
        let a = seen(authorize(n)).await;
        let r = seen(readyz(n)).await;
        if t.status == StatusCode::OK
            && c.status == StatusCode::BAD_REQUEST
            && a.status == StatusCode::SEE_OTHER
            && r.status == StatusCode::OK
        {
            assert_eq!(c.json()["error"], "invalid_grant");
            return since.elapsed();
        }
        assert!(
            since.elapsed() < bound,
            "not recovered {bound:?} after the database came back: token {}, code {} {}, \
             authorize {}, readyz {}",
            t.status,
            c.status,
            c.body,
            a.status,
            r.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The measured figures, printed for the record (`--nocapture`).
fn report(what: &str, d: Duration) {
    eprintln!("outage figure: {what}: {} ms", d.as_millis());
}

const ACQUIRE_MS: u64 = 400;
const STATEMENT_MS: u64 = 800;

/// With PostgreSQL down and then hung (through the proxy), under a trickle of load: every
/// request that needs the database answers `503 temporarily_unavailable` with `Retry-After`
/// (JSON, or the 503 page for `/authorize`) within 2 s, a request in flight when the database
/// freezes answers within the call deadline, `/readyz` says so within 1 s, a JWT
/// client-credentials grant keeps working, and everything recovers within 5 s of the
/// database's return, without a restart.
#[tokio::test]
async fn a_database_outage_answers_503_within_its_deadlines_and_recovers_by_itself() {
    let Some(url) = postgres_database("the database outage test").await else {
        return;
    };
    let upstream = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    let proxy = Proxy::start(upstream).await;
    let mut via = url.clone();
    via.set_host(Some("127.0.0.1")).unwrap();
    via.set_port(Some(proxy.port)).unwrap();
    let n = start_node_edited(
        Some(via.to_string()),
        Arc::new(SystemClock),
        None,
        false,
        |t| {
            t.replacen(
                "[storage]",
                &format!(
                    "[storage]\nacquire_timeout_ms = {ACQUIRE_MS}\nstatement_timeout_ms = {STATEMENT_MS}"
                ),
                1,
            )
        },
    )
    .await;
    let call_deadline = Duration::from_millis(ACQUIRE_MS + STATEMENT_MS);

    // Up: the baseline.
    assert_eq!(seen(opaque_token(&n)).await.status, StatusCode::OK);
    let c = seen(redeem_code(&n)).await;
    assert_eq!(c.status, StatusCode::BAD_REQUEST, "{}", c.body);
    assert_eq!(seen(authorize(&n)).await.status, StatusCode::SEE_OTHER);
    assert_eq!(seen(readyz(&n)).await.status, StatusCode::OK);

    // Down: connections closed, new ones refused.
    proxy.set(Mode::Down);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut slowest = Duration::ZERO;
    for round in 0..3 {
        let t = seen(opaque_token(&n)).await;
        t.assert_unavailable_json(&format!("down, opaque token, round {round}"));
        let c = seen(redeem_code(&n)).await;
        c.assert_unavailable_json(&format!("down, code redemption, round {round}"));
        let a = seen(authorize(&n)).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "down, authorize");
        assert!(a.retry_after.is_some(), "down, authorize: Retry-After");
        assert!(
            a.body.contains("data-kind=\"temporarily_unavailable\""),
            "down, authorize: the 503 page: {}",
            a.body
        );
        let r = seen(readyz(&n)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "down, readyz");
        assert!(
            r.took < Duration::from_millis(1200),
            "down: /readyz took {:?}",
            r.took
        );
        report("down: /readyz", r.took);
        for (what, s) in [
            ("opaque token", &t),
            ("code redemption", &c),
            ("authorize", &a),
        ] {
            assert!(
                s.took < Duration::from_secs(2),
                "down: {what} took {:?}",
                s.took
            );
            slowest = slowest.max(s.took);
        }
        // What needs no database keeps working.
        assert_eq!(
            seen(jwt_token(&n)).await.status,
            StatusCode::OK,
            "down, JWT"
        );
    }
    report("down: slowest 503", slowest);

    // Up again: recovery without a restart.
    proxy.set(Mode::Up);
    let took = recovered(&n, Instant::now(), Duration::from_secs(5)).await;
    report("recovery after down", took);

    // Hung: requests in flight when the server freezes, and new ones, answer within the call
    // deadline. Four callers keep requests going while the server freezes under them.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let frozen_at: Arc<std::sync::OnceLock<Instant>> = Arc::new(std::sync::OnceLock::new());
    let mut callers = Vec::new();
    for i in 0..4 {
        let (stop, frozen_at) = (stop.clone(), frozen_at.clone());
        let (token, code) = (opaque_token(&n), redeem_code(&n));
        callers.push(tokio::spawn(async move {
            let mut after_freeze = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let rb = if i % 2 == 0 {
                    token.try_clone().unwrap()
                } else {
                    code.try_clone().unwrap()
                };
                let sent = Instant::now();
                let s = seen(rb).await;
                if frozen_at.get().is_some_and(|f| *f <= sent) {
                    after_freeze.push(s);
                } else if frozen_at.get().is_some() {
                    // In flight when the server froze: answered either way, within the deadline.
                    assert!(
                        s.took < call_deadline + Duration::from_millis(500),
                        "in flight at the freeze: took {:?}",
                        s.took
                    );
                    after_freeze.push(s);
                }
            }
            after_freeze
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set(Mode::Hung);
    let _ = frozen_at.set(Instant::now());
    let r = seen(readyz(&n)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "hung, readyz");
    assert!(
        r.took < Duration::from_millis(1200),
        "hung: /readyz took {:?}",
        r.took
    );
    report("hung: /readyz", r.took);
    let a = seen(authorize(&n)).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "hung, authorize");
    assert!(a.took < call_deadline + Duration::from_millis(500));
    tokio::time::sleep(call_deadline * 2).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut hung_slowest = Duration::ZERO;
    let mut unavailable = 0;
    for c in callers {
        for s in c.await.unwrap() {
            hung_slowest = hung_slowest.max(s.took);
            assert!(
                s.took < call_deadline + Duration::from_millis(500),
                "hung: a request took {:?}",
                s.took
            );
            if s.status == StatusCode::SERVICE_UNAVAILABLE {
                s.assert_unavailable_json("hung");
                unavailable += 1;
            } else {
                // Only a request that finished just as the server froze may have succeeded.
                assert!(
                    s.status == StatusCode::OK || s.status == StatusCode::BAD_REQUEST,
                    "hung: {} {}",
                    s.status,
                    s.body
                );
            }
        }
    }
    assert!(unavailable > 0, "no request met the frozen database");
    report("hung: slowest answer", hung_slowest);
    assert_eq!(
        seen(jwt_token(&n)).await.status,
        StatusCode::OK,
        "hung, JWT"
    );

    proxy.set(Mode::Up);
    let took = recovered(&n, Instant::now(), Duration::from_secs(5)).await;
    report("recovery after hung", took);
    n.server.shutdown().await;
}
