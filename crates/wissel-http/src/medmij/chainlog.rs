//! MedMij chain logging (ketenmonitoring; `medmij.md` §9): one event per step of the flow, with
//! `session_id` = `X-Correlation-ID` and `trace_id` = `MedMij-Request-ID`, written as JSON lines
//! (to a file, or to the log) and, when an endpoint is configured, shipped in batches over HTTPS
//! with retries. Nothing is lost silently: an event that finds the buffer full, or a batch that
//! cannot be delivered after its retries, is counted (`wissel_medmij_chain_events_total`), shown
//! at `/readyz` and logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Where and how chain events go.
#[derive(Debug, Clone)]
pub struct ChainLogSettings {
    /// This server's hostname: `event.location` and `request.server_id`.
    pub location: String,
    /// Append JSON lines here; when `None` they go to the log (target `wissel::medmij`).
    pub file: Option<PathBuf>,
    /// POST batches (a JSON array) here.
    pub endpoint: Option<url::Url>,
    /// Most events in one batch.
    pub batch_size: usize,
    /// A batch is sent at least this often when events wait.
    pub flush_interval: Duration,
    /// Most events waiting to be written, and to be shipped.
    pub buffer: usize,
    /// Attempts per batch before it counts as undelivered.
    pub max_attempts: u32,
    /// The first retry waits this long; each next one twice as long.
    pub retry_backoff: Duration,
}

impl ChainLogSettings {
    /// Logging to the log output only, with the defaults for everything else.
    pub fn to_log(location: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            file: None,
            endpoint: None,
            batch_size: 100,
            flush_interval: Duration::from_secs(5),
            buffer: 10_000,
            max_attempts: 5,
            retry_backoff: Duration::from_millis(500),
        }
    }
}

/// One chain event (the record shape of the MedMij logging interface).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChainEvent {
    /// What happened, where, when, in which flow.
    pub event: EventInfo,
    /// The request it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestInfo>,
    /// The answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseInfo>,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl ChainEvent {
    /// An event with nothing but its `event` member; add the others with struct update.
    pub fn new(event: EventInfo) -> Self {
        Self {
            event,
            request: None,
            response: None,
            error: None,
        }
    }
}

/// The `event` member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EventInfo {
    /// `receive_authorization_request`, `send_token_response`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// This server's hostname.
    pub location: String,
    /// When, ISO 8601 in UTC.
    pub datetime: String,
    /// `X-Correlation-ID`.
    pub session_id: Option<String>,
    /// `MedMij-Request-ID`.
    pub trace_id: Option<String>,
}

/// The `request` member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RequestInfo {
    /// `MedMij-Request-ID`.
    pub id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// The PGO's `client_id`, as sent.
    pub client_id: Option<String>,
    /// This server.
    pub server_id: String,
    /// The path requested (never its query: it can carry a code).
    pub uri: String,
    /// `grant_type` of a token request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// `person` (the browser, authorization interface) or `machine` (token interface).
    pub initiated_by: &'static str,
}

/// The `response` member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResponseInfo {
    /// `MedMij-Request-ID` of the request answered.
    pub request_id: Option<String>,
    /// HTTP status.
    pub status: u16,
}

/// The `error` member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorInfo {
    /// The OAuth error code.
    pub code: String,
    /// Its description.
    pub description: String,
}

/// Counts of what became of events, for `/readyz` and the metrics.
#[derive(Debug, Default)]
pub struct ChainCounts {
    /// Written (to the file or the log).
    pub written: AtomicU64,
    /// Refused because the buffer was full: neither written nor shipped.
    pub dropped: AtomicU64,
    /// Delivered to the endpoint.
    pub shipped: AtomicU64,
    /// Not delivered to the endpoint after every retry, or refused by a full shipping buffer
    /// (still in the file or the log).
    pub undelivered: AtomicU64,
}

/// The sink: cheap to clone; recording never blocks a request.
#[derive(Clone)]
pub struct ChainLog {
    tx: mpsc::Sender<ChainEvent>,
    counts: Arc<ChainCounts>,
    settings: Arc<ChainLogSettings>,
}

fn count(counts: &AtomicU64, outcome: &'static str, n: u64) {
    counts.fetch_add(n, Ordering::Relaxed);
    metrics::counter!("wissel_medmij_chain_events_total", "outcome" => outcome).increment(n);
}

impl ChainLog {
    /// Starts the writer (and the shipper, when an endpoint is configured). `http` sends the
    /// batches (with the node's client certificate, for an endpoint that asks for one).
    pub fn spawn(settings: ChainLogSettings, http: reqwest::Client) -> Self {
        let buffer = settings.buffer.max(1);
        let (tx, rx) = mpsc::channel(buffer);
        let counts = Arc::new(ChainCounts::default());
        let settings = Arc::new(settings);
        let ship = settings.endpoint.clone().map(|endpoint| {
            let (stx, srx) = mpsc::channel::<Vec<ChainEvent>>(
                buffer.div_ceil(settings.batch_size.max(1)).max(1),
            );
            tokio::spawn(ship_batches(
                srx,
                endpoint,
                http,
                settings.clone(),
                counts.clone(),
            ));
            stx
        });
        tokio::spawn(write_events(rx, ship, settings.clone(), counts.clone()));
        Self {
            tx,
            counts,
            settings,
        }
    }

    /// This server's hostname, for events.
    pub fn location(&self) -> &str {
        &self.settings.location
    }

    /// The `event` member of an event of this server at `now`, in the flow of these ids.
    pub fn event(
        &self,
        kind: &'static str,
        now: i64,
        request_id: Option<&str>,
        correlation_id: Option<&str>,
    ) -> EventInfo {
        EventInfo {
            kind,
            location: self.settings.location.clone(),
            datetime: wissel_medmij::lists::format_datetime(now),
            session_id: correlation_id.map(str::to_owned),
            trace_id: request_id.map(str::to_owned),
        }
    }

    /// Records an event without waiting; a full buffer drops it, counted and logged.
    pub fn record(&self, event: ChainEvent) {
        if let Err(e) = self.tx.try_send(event) {
            count(&self.counts.dropped, "dropped", 1);
            let kind = match &e {
                mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => {
                    ev.event.kind
                }
            };
            tracing::warn!(
                target: "wissel::medmij",
                event = kind,
                dropped = self.counts.dropped.load(Ordering::Relaxed),
                "chain log buffer full: event dropped"
            );
        }
    }

    /// What became of the events so far.
    pub fn counts(&self) -> &ChainCounts {
        &self.counts
    }
}

async fn write_events(
    mut rx: mpsc::Receiver<ChainEvent>,
    ship: Option<mpsc::Sender<Vec<ChainEvent>>>,
    settings: Arc<ChainLogSettings>,
    counts: Arc<ChainCounts>,
) {
    let mut file = match &settings.file {
        None => None,
        Some(path) => match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
        {
            Ok(f) => Some(tokio::io::BufWriter::new(f)),
            Err(e) => {
                tracing::error!(target: "wissel::medmij", path = %path.display(), cause = %e, "cannot open the chain log file; events go to the log");
                None
            }
        },
    };
    let mut batch: Vec<ChainEvent> = Vec::new();
    let mut tick = tokio::time::interval(settings.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            e = rx.recv() => e,
            _ = tick.tick() => {
                flush(&mut batch, ship.as_ref(), &counts);
                continue;
            }
        };
        let Some(event) = event else {
            break;
        };
        let line = serde_json::to_string(&event).unwrap_or_default();
        let in_file = match file.as_mut() {
            Some(f) => {
                f.write_all(line.as_bytes()).await.is_ok()
                    && f.write_all(b"\n").await.is_ok()
                    // Flushed when nothing else waits: a burst is written at once.
                    && (!rx.is_empty() || f.flush().await.is_ok())
            }
            None => false,
        };
        match (&file, in_file) {
            (_, true) => {}
            (Some(_), false) => {
                tracing::error!(target: "wissel::medmij", event = %line, "writing the chain log file failed; the event is in this log line");
            }
            (None, _) => tracing::info!(target: "wissel::medmij", event = %line, "chain event"),
        }
        count(&counts.written, "written", 1);
        if ship.is_some() {
            batch.push(event);
            if batch.len() >= settings.batch_size.max(1) {
                flush(&mut batch, ship.as_ref(), &counts);
            }
        }
    }
    flush(&mut batch, ship.as_ref(), &counts);
    if let Some(f) = file.as_mut() {
        let _ = f.flush().await;
    }
}

fn flush(
    batch: &mut Vec<ChainEvent>,
    ship: Option<&mpsc::Sender<Vec<ChainEvent>>>,
    counts: &ChainCounts,
) {
    let Some(ship) = ship else {
        batch.clear();
        return;
    };
    if batch.is_empty() {
        return;
    }
    let out = std::mem::take(batch);
    let n = out.len() as u64;
    if ship.try_send(out).is_err() {
        count(&counts.undelivered, "undelivered", n);
        tracing::warn!(target: "wissel::medmij", events = n, "chain log shipping is behind: batch not shipped (it is in the file or the log)");
    }
}

async fn ship_batches(
    mut rx: mpsc::Receiver<Vec<ChainEvent>>,
    endpoint: url::Url,
    http: reqwest::Client,
    settings: Arc<ChainLogSettings>,
    counts: Arc<ChainCounts>,
) {
    while let Some(batch) = rx.recv().await {
        let n = batch.len() as u64;
        let mut wait = settings.retry_backoff;
        let mut delivered = false;
        for attempt in 1..=settings.max_attempts.max(1) {
            let sent = http
                .post(endpoint.clone())
                .json(&batch)
                .send()
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("HTTP {}", r.status()))
                    }
                });
            match sent {
                Ok(()) => {
                    delivered = true;
                    break;
                }
                Err(cause) => {
                    tracing::warn!(target: "wissel::medmij", attempt, events = n, %cause, "shipping chain events failed");
                    if attempt < settings.max_attempts {
                        tokio::time::sleep(wait).await;
                        wait = wait.saturating_mul(2);
                    }
                }
            }
        }
        if delivered {
            count(&counts.shipped, "shipped", n);
        } else {
            count(&counts.undelivered, "undelivered", n);
            tracing::error!(target: "wissel::medmij", events = n, undelivered = counts.undelivered.load(Ordering::Relaxed), "chain events undelivered after every retry (they are in the file or the log)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::sync::atomic::AtomicUsize;

    fn event(n: usize) -> ChainEvent {
        ChainEvent {
            event: EventInfo {
                kind: "receive_token_request",
                location: "dva.example.nl".into(),
                datetime: "2026-12-01T20:00:00Z".into(),
                session_id: Some(format!("session-{n}")),
                trace_id: Some(format!("trace-{n}")),
            },
            request: None,
            response: Some(ResponseInfo {
                request_id: None,
                status: 200,
            }),
            error: None,
        }
    }

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "wissel_chainlog_{}_{}",
            std::process::id(),
            wissel_crypto::secret::generate_id()
        ));
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
        d
    }

    /// A receiver that fails the first `failures` batches with 503, then takes them.
    async fn receiver(
        failures: usize,
    ) -> (
        url::Url,
        Arc<AtomicUsize>,
        Arc<std::sync::Mutex<Vec<Value>>>,
    ) {
        let attempts = Arc::new(AtomicUsize::new(0));
        let got = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
        let (a, g) = (attempts.clone(), got.clone());
        let app = axum::Router::new().route(
            "/logs",
            axum::routing::post(move |body: String| {
                let (a, g) = (a.clone(), g.clone());
                async move {
                    if a.fetch_add(1, Ordering::SeqCst) < failures {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let batch: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
                    g.lock().unwrap_or_else(|p| p.into_inner()).extend(batch);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let url = url::Url::parse(&format!(
            "http://{}/logs",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, attempts, got)
    }

    fn settings(file: Option<PathBuf>, endpoint: Option<url::Url>) -> ChainLogSettings {
        ChainLogSettings {
            file,
            endpoint,
            batch_size: 4,
            flush_interval: Duration::from_millis(50),
            max_attempts: 3,
            retry_backoff: Duration::from_millis(10),
            ..ChainLogSettings::to_log("dva.example.nl")
        }
    }

    async fn settle(log: &ChainLog, done: impl Fn(&ChainCounts) -> bool) {
        for _ in 0..200 {
            if done(log.counts()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("chain log did not settle: {:?}", log.counts());
    }

    #[tokio::test]
    async fn events_are_written_as_json_lines_and_shipped_in_batches_with_retries() {
        let d = dir();
        let (url, attempts, got) = receiver(2).await;
        let log = ChainLog::spawn(
            settings(Some(d.join("chain.jsonl")), Some(url)),
            reqwest::Client::new(),
        );
        for n in 0..10 {
            log.record(event(n));
        }
        settle(&log, |c| c.shipped.load(Ordering::Relaxed) == 10).await;
        let lines = std::fs::read_to_string(d.join("chain.jsonl")).unwrap_or_default();
        let parsed: Vec<Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
            .collect();
        assert_eq!(parsed.len(), 10);
        assert_eq!(parsed[3]["event"]["session_id"], "session-3");
        assert_eq!(parsed[3]["event"]["type"], "receive_token_request");
        let received = got.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(received.len(), 10, "each event delivered once");
        assert!(
            attempts.load(Ordering::SeqCst) >= 5,
            "two refusals, then the batches"
        );
        assert_eq!(log.counts().undelivered.load(Ordering::Relaxed), 0);
        assert_eq!(log.counts().dropped.load(Ordering::Relaxed), 0);
        let _ = std::fs::remove_dir_all(d);
    }

    #[tokio::test]
    async fn a_batch_that_cannot_be_delivered_is_counted_and_stays_in_the_file() {
        let d = dir();
        let (url, attempts, got) = receiver(usize::MAX).await;
        let log = ChainLog::spawn(
            settings(Some(d.join("chain.jsonl")), Some(url)),
            reqwest::Client::new(),
        );
        for n in 0..4 {
            log.record(event(n));
        }
        settle(&log, |c| c.undelivered.load(Ordering::Relaxed) == 4).await;
        assert_eq!(attempts.load(Ordering::SeqCst), 3, "max_attempts");
        assert!(got.lock().unwrap_or_else(|p| p.into_inner()).is_empty());
        assert_eq!(
            std::fs::read_to_string(d.join("chain.jsonl"))
                .unwrap_or_default()
                .lines()
                .count(),
            4
        );
        let _ = std::fs::remove_dir_all(d);
    }

    #[tokio::test]
    async fn a_full_buffer_drops_events_and_counts_them() {
        let log = ChainLog::spawn(
            ChainLogSettings {
                buffer: 2,
                ..settings(None, None)
            },
            reqwest::Client::new(),
        );
        // The writer cannot run while this task does not yield: the buffer takes two.
        for n in 0..10 {
            log.record(event(n));
        }
        assert_eq!(log.counts().dropped.load(Ordering::Relaxed), 8);
        settle(&log, |c| c.written.load(Ordering::Relaxed) == 2).await;
    }
}
