//! Slow and hostile clients (docs/security.md, "Slow and hostile clients"): idle, slowloris and
//! slow-body connections are closed within their timeouts on plain HTTP and on HTTPS, never keep
//! a normal client from its token, and the number of connections and of requests per connection
//! is capped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wissel_core::ports::SystemClock;

use super::{BACKEND_SECRET, Node, http, start_node_edited};

/// The short timeouts these tests configure (ms).
const TIMEOUT_MS: u64 = 500;
/// Scheduling slack allowed on top of a timeout before a connection counts as not closed.
const SLACK: Duration = Duration::from_millis(700);
/// How often the slow clients send one byte: well within the idle timeout, so that only the
/// header or body clock can close them.
const TRICKLE: Duration = Duration::from_millis(50);

fn short_timeouts(extra: &'static str) -> impl FnOnce(String) -> String {
    move |text| {
        text.replacen(
            "[server]\n",
            &format!(
                "[server]\nhandshake_timeout_ms = {TIMEOUT_MS}\nidle_timeout_ms = {TIMEOUT_MS}\n\
                 header_timeout_ms = {TIMEOUT_MS}\nbody_timeout_ms = {TIMEOUT_MS}\n{extra}"
            ),
            1,
        )
    }
}

fn basic_backend() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("backend:{BACKEND_SECRET}"))
}

/// What became of one slow connection.
#[derive(Debug)]
struct Closed {
    /// From the moment its clock started (connect, first header byte, complete head) to the
    /// server closing it; `None` if it was still open at the give-up time.
    after: Option<Duration>,
    /// What the server sent before closing.
    reply: String,
}

/// Reads until the server closes (EOF or reset), or gives up at `give_up`.
async fn until_closed<R: AsyncRead + Unpin>(r: &mut R, give_up: Instant) -> (bool, String) {
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(give_up.into(), r.read(&mut buf)).await {
            Err(_) => return (false, String::from_utf8_lossy(&reply).into_owned()),
            Ok(Ok(0)) | Ok(Err(_)) => return (true, String::from_utf8_lossy(&reply).into_owned()),
            Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends nothing.
async fn idle<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, started: Instant) -> Closed {
    let give_up = started + Duration::from_millis(TIMEOUT_MS) + SLACK * 3;
    let (closed, reply) = until_closed(&mut s, give_up).await;
    Closed {
        after: closed.then(|| started.elapsed()),
        reply,
    }
}

/// Sends a request head one byte at a time, never finishing it (slowloris).
async fn slowloris<S: AsyncRead + AsyncWrite + Unpin>(s: S) -> Closed {
    let head = b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".repeat(20);
    let (mut r, mut w) = tokio::io::split(s);
    let started = Instant::now();
    let give_up = started + Duration::from_millis(TIMEOUT_MS) + SLACK * 3;
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    for b in head.iter().cycle() {
        tokio::select! {
            read = tokio::time::timeout_at(give_up.into(), r.read(&mut buf)) => match read {
                Err(_) => return Closed { after: None, reply: String::from_utf8_lossy(&reply).into_owned() },
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(TRICKLE) => {
                if w.write_all(&[*b]).await.is_err() {
                    break;
                }
            }
        }
    }
    Closed {
        after: Some(started.elapsed()),
        reply: String::from_utf8_lossy(&reply).into_owned(),
    }
}

/// Sends a complete token request head, then its body one byte at a time, never finishing it.
async fn slow_body<S: AsyncRead + AsyncWrite + Unpin>(s: S) -> Closed {
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n",
        basic_backend()
    );
    let (mut r, mut w) = tokio::io::split(s);
    if w.write_all(head.as_bytes()).await.is_err() {
        return Closed {
            after: Some(Duration::ZERO),
            reply: "head refused".into(),
        };
    }
    let started = Instant::now();
    let give_up = started + Duration::from_millis(TIMEOUT_MS) + SLACK * 3;
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    let body = b"grant_type=client_credentials&x=".repeat(200);
    for b in body.iter() {
        tokio::select! {
            read = tokio::time::timeout_at(give_up.into(), r.read(&mut buf)) => match read {
                Err(_) => return Closed { after: None, reply: String::from_utf8_lossy(&reply).into_owned() },
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(TRICKLE) => {
                if w.write_all(&[*b]).await.is_err() {
                    // The server stopped reading: what it answered is still to be read.
                    let (_, rest) = until_closed(&mut r, give_up).await;
                    reply.extend_from_slice(rest.as_bytes());
                    break;
                }
            }
        }
    }
    Closed {
        after: Some(started.elapsed()),
        reply: String::from_utf8_lossy(&reply).into_owned(),
    }
}

/// How many of `results` were closed within the timeout (plus slack), and the slowest close.
fn tally(kind: &str, results: &[Closed]) -> (usize, Duration) {
    let bound = Duration::from_millis(TIMEOUT_MS) + SLACK;
    let within = results
        .iter()
        .filter(|c| c.after.is_some_and(|a| a <= bound))
        .count();
    let slowest = results
        .iter()
        .filter_map(|c| c.after)
        .max()
        .unwrap_or_default();
    println!(
        "{kind}: {within} of {} closed within {} ms (timeout {TIMEOUT_MS} ms); slowest close after {} ms",
        results.len(),
        bound.as_millis(),
        slowest.as_millis()
    );
    (within, slowest)
}

/// One client-credentials token request on a fresh connection; its latency.
async fn timed_token(n: &Node) -> Duration {
    let client = http();
    let t = Instant::now();
    let r = client
        .post(n.url("/token"))
        .basic_auth("backend", Some(BACKEND_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "orders-api"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(v["access_token"].is_string());
    t.elapsed()
}

/// 500 idle, 100 slowloris and 100 slow-body connections over plain HTTP: a normal client still
/// gets its token in under 100 ms while they are open, and each is closed within its timeout
/// (the slow-body ones with a `408`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_in_time_and_never_starve_a_token_request() {
    let n = start_node_edited(None, Arc::new(SystemClock), None, false, short_timeouts("")).await;
    let addr = n.server.addr;
    // Warm the server up (key ring, caches) so that the timed requests measure the load only.
    timed_token(&n).await;

    // Connected one after the other (a burst of 700 simultaneous handshakes on a busy machine
    // can overflow the accept queue, and a connection the kernel has not handed over yet has no
    // clock running), each then held by its own task.
    let mut idle_tasks = Vec::new();
    for _ in 0..500 {
        let s = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        idle_tasks.push(tokio::spawn(idle(s, started)));
    }
    let mut loris_tasks = Vec::new();
    let mut body_tasks = Vec::new();
    for _ in 0..100 {
        let s = TcpStream::connect(addr).await.unwrap();
        loris_tasks.push(tokio::spawn(slowloris(s)));
        let s = TcpStream::connect(addr).await.unwrap();
        body_tasks.push(tokio::spawn(slow_body(s)));
    }
    // While they are all open: a normal client, five times on fresh connections.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut latencies = Vec::new();
    for _ in 0..5 {
        latencies.push(timed_token(&n).await);
    }
    latencies.sort();
    println!(
        "normal client under 700 slow connections: token latencies {:?}",
        latencies
            .iter()
            .map(|d| d.as_micros() as f64 / 1000.0)
            .collect::<Vec<_>>()
    );

    let mut idle_results = Vec::new();
    for t in idle_tasks {
        idle_results.push(t.await.unwrap());
    }
    let mut loris_results = Vec::new();
    for t in loris_tasks {
        loris_results.push(t.await.unwrap());
    }
    let mut body_results = Vec::new();
    for t in body_tasks {
        body_results.push(t.await.unwrap());
    }
    let (idle_ok, _) = tally("idle", &idle_results);
    let (loris_ok, _) = tally("slowloris", &loris_results);
    let (body_ok, _) = tally("slow body", &body_results);
    assert_eq!(idle_ok, 500, "idle connections left open");
    assert_eq!(loris_ok, 100, "slowloris connections left open");
    assert_eq!(body_ok, 100, "slow-body connections left open");
    for c in &body_results {
        assert!(
            c.reply.starts_with("HTTP/1.1 408"),
            "a slow body gets 408: {}",
            c.reply
        );
        assert!(c.reply.contains("invalid_request"), "{}", c.reply);
        assert!(
            c.reply
                .to_ascii_lowercase()
                .contains("cache-control: no-store"),
            "{}",
            c.reply
        );
    }
    assert!(
        latencies[2] < Duration::from_millis(100),
        "the median token request took {:?} among the slow connections",
        latencies[2]
    );
    // The server is still well after them all.
    timed_token(&n).await;
    n.server.shutdown().await;
}

/// The same clocks hold over HTTPS: a client that never completes the TLS handshake, one that
/// is idle after it, a slowloris and a slow body are each closed within their timeout.
#[tokio::test]
async fn https_slow_clients_are_closed_in_time() {
    let n = start_node_edited(None, Arc::new(SystemClock), None, true, short_timeouts("")).await;
    let addr = n.server.addr;
    let ca = n.ca_pem.clone().unwrap();
    let connector = {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    };
    let tls = move |connector: tokio_rustls::TlsConnector| async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        connector.connect(name, tcp).await.unwrap()
    };
    let mut no_handshake = Vec::new();
    let mut idle_tasks = Vec::new();
    let mut loris_tasks = Vec::new();
    let mut body_tasks = Vec::new();
    for _ in 0..20 {
        no_handshake.push(tokio::spawn(async move {
            let s = TcpStream::connect(addr).await.unwrap();
            idle(s, Instant::now()).await
        }));
        let c = connector.clone();
        idle_tasks.push(tokio::spawn(async move {
            let s = tls(c).await;
            idle(s, Instant::now()).await
        }));
        let c = connector.clone();
        loris_tasks.push(tokio::spawn(async move { slowloris(tls(c).await).await }));
        let c = connector.clone();
        body_tasks.push(tokio::spawn(async move { slow_body(tls(c).await).await }));
    }
    let mut all = Vec::new();
    for (kind, tasks) in [
        ("https no handshake", no_handshake),
        ("https idle", idle_tasks),
        ("https slowloris", loris_tasks),
        ("https slow body", body_tasks),
    ] {
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let (ok, _) = tally(kind, &results);
        all.push((kind, ok, results));
    }
    for (kind, ok, results) in &all {
        assert_eq!(*ok, 20, "{kind}: connections left open");
        if *kind == "https slow body" {
            for c in results {
                assert!(c.reply.starts_with("HTTP/1.1 408"), "{}", c.reply);
            }
        }
    }
    n.server.shutdown().await;
}

/// Reads one HTTP/1.1 response with a `Content-Length` from a kept-alive connection.
async fn read_response(s: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "closed before the response head was complete");
        data.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&data).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.unwrap();
    head
}

/// A connection carries at most `max_requests_per_connection` requests: the last response says
/// `Connection: close` and the server closes it.
#[tokio::test]
async fn a_connection_carries_at_most_max_requests_per_connection() {
    let n = start_node_edited(
        None,
        Arc::new(SystemClock),
        None,
        false,
        short_timeouts("max_requests_per_connection = 3\n"),
    )
    .await;
    let mut s = TcpStream::connect(n.server.addr).await.unwrap();
    for i in 1..=3 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let head = read_response(&mut s).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(
            head.contains("connection: close"),
            i == 3,
            "request {i}: {head}"
        );
    }
    let (closed, rest) = until_closed(&mut s, Instant::now() + Duration::from_millis(300)).await;
    assert!(closed, "the connection stays open after its last request");
    assert!(rest.is_empty(), "{rest}");
    n.server.shutdown().await;
}

/// At `max_connections`, a new connection waits until one closes (here: an idle one, after the
/// idle timeout) and is then served; the limit being reached is counted in `/metrics`.
#[tokio::test]
async fn at_the_connection_cap_new_connections_wait_and_the_cap_is_counted() {
    let n = start_node_edited(
        None,
        Arc::new(SystemClock),
        None,
        false,
        short_timeouts("max_connections = 20\n"),
    )
    .await;
    let addr = n.server.addr;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let latency = timed_token(&n).await;
    println!(
        "at the cap: served after {} ms",
        started.elapsed().as_millis()
    );
    assert!(
        latency >= Duration::from_millis(TIMEOUT_MS / 2),
        "served at once ({latency:?}): the 21st connection was not held back"
    );
    assert!(latency < Duration::from_millis(TIMEOUT_MS) + SLACK * 2);
    let metrics = http()
        .get(n.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let reached = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wissel_connections_limit_reached_total "))
        .map(|v| v.trim().parse::<f64>().unwrap());
    assert!(reached.is_some_and(|v| v >= 1.0), "{metrics}");
    drop(held);
    n.server.shutdown().await;
}
