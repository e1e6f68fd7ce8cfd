//! Outbound fetches, bounded by construction (DESIGN.md §8): a response body is read with its
//! size bound enforced while it arrives, so a chunked body without a `Content-Length` never makes
//! a node hold more than the bound; clients' JWK Sets (`jwks_uri`, for `private_key_jwt`) are
//! fetched at most once at a time per URI, kept for `server.jwks_uri_cache_secs`, and a failed
//! fetch is remembered for [`JWKS_URI_FAILURE_TTL`] so that assertions pointed at a failing URI
//! do not cause one fetch each.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

/// Largest client JWK Set read from a `jwks_uri`.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// How long a failed `jwks_uri` fetch is remembered (seconds): within it, every assertion of that
/// client is refused without another fetch.
pub const JWKS_URI_FAILURE_TTL: i64 = 5;

/// Why a fetch produced nothing usable. Shown in logs, never to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Connecting, sending or reading failed (timeouts included).
    Transport(String),
    /// The server answered with an error status.
    Status(u16),
    /// The body is larger than the bound (announced, or found while reading).
    TooLarge(usize),
    /// The body is not what was expected.
    Malformed(String),
}

impl FetchError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Transport(_) => "transport",
            Self::Status(_) => "status",
            Self::TooLarge(_) => "too_large",
            Self::Malformed(_) => "malformed",
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "{e}"),
            Self::Status(s) => write!(f, "HTTP {s}"),
            Self::TooLarge(max) => write!(f, "the body is larger than {max} bytes"),
            Self::Malformed(e) => write!(f, "{e}"),
        }
    }
}

/// Sends `request` and reads a successful answer's body, at most `max` bytes: a larger
/// `Content-Length` is refused before reading, and a body that grows past `max` while it
/// arrives is dropped there (the connection with it).
pub async fn get_bounded(
    request: reqwest::RequestBuilder,
    max: usize,
) -> Result<Vec<u8>, FetchError> {
    let mut resp = request
        .send()
        .await
        .map_err(|e| FetchError::Transport(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(FetchError::Status(resp.status().as_u16()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(FetchError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::Transport(e.to_string()))?
    {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(FetchError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What a node knows about one `jwks_uri`.
#[derive(Clone)]
enum Fetched {
    /// The key set it published.
    Keys(Arc<JwkSet>),
    /// The last fetch failed at this time (the `Clock`'s seconds).
    Failed { at: i64, why: FetchError },
}

/// Keeps a key set for the configured time and a failure for [`JWKS_URI_FAILURE_TTL`] (the
/// entry's lifetime in the cache; the failure's age is also checked against the `Clock`).
struct ByOutcome {
    keys: Duration,
}

impl ByOutcome {
    fn lifetime(&self, value: &Fetched) -> Option<Duration> {
        Some(match value {
            Fetched::Keys(_) => self.keys,
            Fetched::Failed { .. } => Duration::from_secs(JWKS_URI_FAILURE_TTL.unsigned_abs()),
        })
    }
}

impl moka::Expiry<String, Fetched> for ByOutcome {
    fn expire_after_create(&self, _: &String, value: &Fetched, _: Instant) -> Option<Duration> {
        self.lifetime(value)
    }
    fn expire_after_update(
        &self,
        _: &String,
        value: &Fetched,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.lifetime(value)
    }
}

/// Clients' JWK Sets fetched from their `jwks_uri`: one fetch at a time per URI (concurrent
/// assertions for a cold URI wait for the one fetch), results and failures cached.
pub struct ClientJwks {
    http: reqwest::Client,
    fetched: moka::sync::Cache<String, Fetched>,
    /// One lock per URI being fetched: whoever holds it fetches, the others wait and then read
    /// what it cached.
    fetching: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
}

impl ClientJwks {
    /// Fetches with `http` (its timeout bounds a fetch), keeps key sets for `ttl`.
    pub fn new(http: reqwest::Client, ttl: Duration) -> Self {
        Self {
            http,
            fetched: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .expire_after(ByOutcome { keys: ttl })
                .build(),
            fetching: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(Duration::from_secs(60))
                .build(),
        }
    }

    /// The key set published at `uri`, fetched unless a fresh copy (or a fresh failure) is
    /// known; `now` is the `Clock`'s.
    pub async fn get(&self, uri: &str, now: i64) -> Result<Arc<JwkSet>, FetchError> {
        if let Some(known) = self.known(uri, now) {
            return known;
        }
        let lock = self
            .fetching
            .get_with_by_ref(uri, || Arc::new(tokio::sync::Mutex::new(())));
        let _fetching = lock.lock().await;
        // Whoever held the lock before may have fetched it.
        if let Some(known) = self.known(uri, now) {
            return known;
        }
        let fetched = match self.fetch(uri).await {
            Ok(set) => {
                metrics::counter!("wissel_jwks_uri_fetches_total", "outcome" => "success")
                    .increment(1);
                Fetched::Keys(Arc::new(set))
            }
            Err(why) => {
                metrics::counter!("wissel_jwks_uri_fetches_total", "outcome" => why.kind())
                    .increment(1);
                tracing::warn!(jwks_uri = uri, reason = %why, "fetching a client's jwks_uri failed");
                Fetched::Failed { at: now, why }
            }
        };
        self.fetched.insert(uri.to_owned(), fetched.clone());
        match fetched {
            Fetched::Keys(set) => Ok(set),
            Fetched::Failed { why, .. } => Err(why),
        }
    }

    fn known(&self, uri: &str, now: i64) -> Option<Result<Arc<JwkSet>, FetchError>> {
        match self.fetched.get(uri)? {
            Fetched::Keys(set) => Some(Ok(set)),
            Fetched::Failed { at, why } if now < at.saturating_add(JWKS_URI_FAILURE_TTL) => {
                Some(Err(why))
            }
            Fetched::Failed { .. } => None,
        }
    }

    async fn fetch(&self, uri: &str) -> Result<JwkSet, FetchError> {
        let body = get_bounded(self.http.get(uri), MAX_JWKS_BYTES).await?;
        serde_json::from_slice(&body).map_err(|e| FetchError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server whose one answer is a chunked body of `chunks` × 16 KiB (no `Content-Length`);
    /// counts what it managed to write.
    async fn chunked(chunks: usize, written: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 2048];
            let _ = sock.read(&mut head).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await;
            let chunk = [b"4000\r\n".as_slice(), &[b'x'; 0x4000], b"\r\n"].concat();
            for _ in 0..chunks {
                if sock.write_all(&chunk).await.is_err() {
                    return;
                }
                written.fetch_add(0x4000, Ordering::SeqCst);
            }
            let _ = sock.write_all(b"0\r\n\r\n").await;
        });
        url
    }

    #[tokio::test]
    async fn a_chunked_body_is_read_up_to_the_bound_and_no_further() {
        let http = reqwest::Client::new();
        // Within the bound: read whole.
        let written = Arc::new(AtomicUsize::new(0));
        let url = chunked(4, written.clone()).await;
        let body = get_bounded(http.get(&url), 64 * 1024).await.unwrap();
        assert_eq!(body.len(), 64 * 1024);
        // 1 GiB announced by nothing but its chunks: refused at the bound.
        let written = Arc::new(AtomicUsize::new(0));
        let url = chunked(65_536, written.clone()).await;
        assert_eq!(
            get_bounded(http.get(&url), 64 * 1024).await,
            Err(FetchError::TooLarge(64 * 1024))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let written = written.load(Ordering::SeqCst);
        assert!(written < 64 * 1024 * 1024, "{written} bytes were sent");
    }
}
