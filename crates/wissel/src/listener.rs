//! The one accept loop, for plain HTTP and HTTPS alike (decisions 0004 and 0009): every
//! connection is bounded in number and in time, whatever the client does.
//!
//! - **How many.** At most `max_connections` at once (lowered at start below the open-files
//!   limit, see [`connection_cap`]); at the cap, new connections wait in the kernel's backlog
//!   until one closes, and the loop says so in the log and in `wissel_connections_limit_reached_total`.
//! - **Handshake.** A TLS handshake must finish within `handshake_timeout`.
//! - **Idle.** A connection with no request in progress that sends and receives nothing for
//!   `idle_timeout` is closed (a new connection, and a kept-alive one between requests).
//! - **Header.** From the first byte of a request, its head must be complete within
//!   `header_timeout`, however the bytes trickle in (slowloris).
//! - **Body.** A handler reads a body within `server.body_timeout_ms` or answers `408`
//!   (`wissel_http::form::read_body`); the rest of such a body is never read, so hyper closes the
//!   connection.
//! - **Requests.** A connection carries at most `max_requests_per_connection` requests; the
//!   last response says `Connection: close`.
//!
//! The idle and header clocks live in [`PacedIo`], a wrapper around the socket that hyper reads
//! through: hyper's own `header_read_timeout` starts its clock when the connection is ready for
//! a request, so it cannot tell an idle keep-alive connection from a slow head. It is kept as a
//! backstop at `idle_timeout + header_timeout`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderValue, Request, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use wissel_http::client_auth::PeerCertificate;

/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the loop pauses after a failed accept (out of file descriptors, say), instead of
/// spinning on an error that will not go away at once.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// File descriptors kept back from connections: the database pool, outbound fetches, files.
const RESERVED_FDS: u64 = 128;
/// At most one "connection limit reached" log line per this period.
const SATURATION_LOG_PERIOD: Duration = Duration::from_secs(10);

/// The bounds every connection is held to (`[server]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Longest a connection with no request in progress may stay silent.
    pub idle_timeout: Duration,
    /// Longest from a request's first byte to its complete head.
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most requests one connection carries.
    pub max_requests_per_connection: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_requests_per_connection: 1_000,
        }
    }
}

/// Raises the soft open-files limit as far as the hard limit allows, and returns `configured`,
/// lowered if need be so that the connections leave [`RESERVED_FDS`] descriptors for the rest of
/// the process: a full house of connections then never makes `accept`, the database pool or a
/// log file fail with "too many open files".
pub fn connection_cap(configured: usize) -> usize {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(e) => match rlimit::getrlimit(rlimit::Resource::NOFILE) {
            Ok((soft, _)) => {
                tracing::warn!(cause = %e, open_files_limit = soft, "could not raise the open-files limit");
                soft
            }
            Err(_) => return configured,
        },
    };
    let room = soft.saturating_sub(RESERVED_FDS).max(soft / 2).max(1);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if configured > room {
        tracing::warn!(
            configured,
            open_files_limit = soft,
            max_connections = room,
            "server.max_connections lowered to fit under the open-files limit"
        );
        room
    } else {
        configured
    }
}

/// Serves `app` on `listener`, over TLS when `tls` is given, until `stop` turns true; then
/// drains the requests in flight.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: axum::Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    metrics::gauge!("wissel_connections_max").set(limits.max_connections as f64);
    let mut saturated = false;
    let mut last_saturation_log: Option<Instant> = None;
    loop {
        // A free slot first: at the cap, new connections wait in the kernel's backlog.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                saturated = false;
                slot
            }
            Err(_) => {
                if !saturated {
                    saturated = true;
                    metrics::counter!("wissel_connections_limit_reached_total").increment(1);
                    if last_saturation_log.is_none_or(|t| t.elapsed() >= SATURATION_LOG_PERIOD) {
                        last_saturation_log = Some(Instant::now());
                        tracing::warn!(
                            max_connections = limits.max_connections,
                            "connection limit reached: new connections wait until one closes"
                        );
                    }
                }
                tokio::select! {
                    changed = stop.changed() => {
                        if changed.is_err() || *stop.borrow() { break } else { continue }
                    }
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() { break } else { continue }
            }
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: say so, and back off instead of spinning.
                metrics::counter!("wissel_accept_errors_total").increment(1);
                tracing::warn!(cause = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(
            tcp,
            peer,
            tls.clone(),
            app.clone(),
            limits,
            graceful.watcher(),
            slot,
        ));
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the drain timeout");
    }
}

/// One connection, holding its slot until it ends.
async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    app: axum::Router,
    limits: ConnectionLimits,
    watcher: Watcher,
    slot: OwnedSemaphorePermit,
) {
    let _open = OpenConnection::new(slot);
    match tls {
        None => http(tcp, peer, None, app, limits, watcher).await,
        Some(acceptor) => {
            let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, cause = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    metrics::counter!("wissel_connections_timed_out_total", "phase" => "handshake")
                        .increment(1);
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            // The client certificate (verified by the handshake), parsed once per connection.
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|der| PeerCertificate::from_der(der.as_ref()))
                .map(Arc::new);
            http(tls, peer, cert, app, limits, watcher).await;
        }
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS).
async fn http<T>(
    io: T,
    peer: SocketAddr,
    cert: Option<Arc<PeerCertificate>>,
    app: axum::Router,
    limits: ConnectionLimits,
    watcher: Watcher,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let pace = Arc::new(Pace::new(limits));
    let on_request = pace.clone();
    let on_response = pace.clone();
    // The peer address reaches handlers as axum's `ConnectInfo` (login throttling), the
    // certificate as an extension.
    let service = tower::ServiceExt::map_response(
        tower::ServiceExt::map_request(app, move |mut req: Request<hyper::body::Incoming>| {
            on_request.request_started();
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            if let Some(c) = &cert {
                req.extensions_mut().insert(c.clone());
            }
            req
        }),
        move |mut res: axum::response::Response| {
            if on_response.response_ready() {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            res
        },
    );
    let io = PacedIo::new(io, pace.clone());
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout + limits.header_timeout)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(conn).await {
        let phase = pace
            .expired()
            .or_else(|| e.is_timeout().then_some("header"));
        match phase {
            Some(phase) => {
                metrics::counter!("wissel_connections_timed_out_total", "phase" => phase)
                    .increment(1);
                tracing::debug!(%peer, phase, "connection timed out");
            }
            None => tracing::debug!(%peer, cause = %e, "connection ended with an error"),
        }
    }
}

/// Counts an open connection in `wissel_connections_open`, and frees its slot when dropped.
struct OpenConnection {
    _slot: OwnedSemaphorePermit,
}

impl OpenConnection {
    fn new(slot: OwnedSemaphorePermit) -> Self {
        metrics::gauge!("wissel_connections_open").increment(1.0);
        Self { _slot: slot }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("wissel_connections_open").decrement(1.0);
    }
}

/// Where one connection stands, shared by the socket wrapper and the service.
struct Pace {
    limits: ConnectionLimits,
    state: Mutex<PaceState>,
}

struct PaceState {
    /// A request has been handed to the service and its response is not ready yet.
    in_flight: bool,
    /// The last byte read or written.
    last_activity: Instant,
    /// The first byte of the request now arriving, if one is.
    head_started: Option<Instant>,
    /// Requests served so far.
    requests: u64,
    /// Which clock closed the connection.
    expired: Option<&'static str>,
}

impl Pace {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(PaceState {
                in_flight: false,
                last_activity: Instant::now(),
                head_started: None,
                requests: 0,
                expired: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PaceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read_some(&self) {
        let now = Instant::now();
        let mut s = self.state();
        s.last_activity = now;
        if !s.in_flight && s.head_started.is_none() {
            s.head_started = Some(now);
        }
    }

    fn wrote_some(&self) {
        self.state().last_activity = Instant::now();
    }

    fn request_started(&self) {
        let mut s = self.state();
        s.in_flight = true;
        s.head_started = None;
        s.requests += 1;
    }

    /// Marks the response ready; true when it is the connection's last.
    fn response_ready(&self) -> bool {
        let mut s = self.state();
        s.in_flight = false;
        s.last_activity = Instant::now();
        s.requests >= self.limits.max_requests_per_connection
    }

    /// When reading must have made progress, and which clock says so; `None` while a request is
    /// in progress (its body has its own bound).
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        let s = self.state();
        if s.in_flight {
            return None;
        }
        Some(match s.head_started {
            Some(t) => (t + self.limits.header_timeout, "header"),
            None => (s.last_activity + self.limits.idle_timeout, "idle"),
        })
    }

    fn expire(&self, phase: &'static str) {
        self.state().expired = Some(phase);
    }

    fn expired(&self) -> Option<&'static str> {
        self.state().expired
    }
}

/// A socket whose reads fail with `TimedOut` when the connection's idle or header clock runs
/// out, which makes hyper close the connection.
struct PacedIo<T> {
    io: T,
    pace: Arc<Pace>,
    timer: Pin<Box<Sleep>>,
}

impl<T> PacedIo<T> {
    fn new(io: T, pace: Arc<Pace>) -> Self {
        let first = pace.deadline().map_or_else(Instant::now, |(d, _)| d);
        Self {
            io,
            pace,
            timer: Box::pin(tokio::time::sleep_until(first)),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for PacedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.pace.read_some();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let Some((deadline, phase)) = this.pace.deadline() else {
                    return Poll::Pending;
                };
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                if this.timer.as_mut().poll(cx).is_ready() {
                    this.pace.expire(phase);
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, phase)));
                }
                Poll::Pending
            }
            error => error,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for PacedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.pace.wrote_some();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.pace.wrote_some();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_under_the_open_files_limit() {
        let soft = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
        let cap = connection_cap(usize::MAX);
        assert!((cap as u64) < soft || soft <= 1, "{cap} vs {soft}");
        assert_eq!(connection_cap(10), 10);
    }
}
