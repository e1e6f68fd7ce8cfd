//! Memory that stays bounded (docs/security.md, "Memory"): what a node can check from outside.

use std::sync::Arc;
use std::time::Duration;

use wissel_core::ports::SystemClock;

use super::{http, start_node};

/// The value of an unlabelled counter in a Prometheus text body.
fn counter(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The metrics recorder's histograms keep every sample until they are drained; the node drains
/// them on its own beat (every `server.sync_interval_ms`, 100 ms in these tests), not only when
/// `/metrics` is scraped.
#[tokio::test]
async fn metrics_histograms_are_drained_without_scrapes() {
    let n = start_node(None, Arc::new(SystemClock)).await;
    let scrape = || async {
        http()
            .get(n.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = counter(&scrape().await, "wissel_metrics_upkeep_total").unwrap_or(0.0);
    // Three sync beats with no scrape in between.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let after = counter(&scrape().await, "wissel_metrics_upkeep_total");
    assert!(
        after.is_some_and(|a| a > before),
        "no drain between two scrapes: {before} then {after:?}"
    );
    n.server.shutdown().await;
}
