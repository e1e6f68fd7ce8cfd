//! Starting a node: connect and migrate the store, apply the declared entities, make sure a
//! signing key exists, build the state, serve HTTP, and run the maintenance loop (sync with the
//! store, rotate keys, purge expired rows) until shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wissel_core::ports::{Clock, Store};
use wissel_crypto::keys::MasterKey;
use wissel_http::observe::LogAudit;
use wissel_http::{AppState, Settings};
use wissel_store::SqlStore;

use crate::config::{Config, MedmijConfig};
use crate::listener::ConnectionLimits;
use crate::provision;
use wissel_http::medmij::{Medmij, SecretSource};
use wissel_medmij::policy::{AllOffered, Availability};

/// The process-wide Prometheus recorder (the `metrics` facade has one global recorder).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Connects to the configured store and migrates it.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<SqlStore>> {
    let store = SqlStore::connect_with(
        &config.storage_url,
        config.store_limits,
        config.sqlite_durability,
    )
    .await
    .context("opening storage")?;
    store.migrate().await.context("migrating storage")?;
    Ok(Arc::new(store))
}

/// A running node.
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// Its state.
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Stops accepting, drains in-flight requests and stops the maintenance loop.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Waits until the server stops (after a signal, when `serve` installed one).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// A sender that stops the server.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Starts a node on `config.listen`.
pub async fn start(
    config: &Config,
    master: MasterKey,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Server> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    start_on(config, listener, master, clock).await
}

/// What an embedding program (or a test) can put into a node besides its configuration.
#[derive(Default, Clone)]
pub struct Hooks {
    /// Which gegevensdiensten are available for a person (MedMij); everything offered when
    /// `None`.
    pub availability: Option<Arc<dyn Availability>>,
    /// Where the MedMij profile draws codes and tokens from; the server's random generator when
    /// `None` (a test forces a collision through it).
    pub secrets: Option<SecretSource>,
}

/// The HTTP client that fetches MedMij lists and ships chain events: with the node's client
/// certificate, trusting the configured roots.
fn medmij_http(config: &MedmijConfig) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(f) = &config.fetch {
        let mut pem = std::fs::read(&f.cert_file)
            .with_context(|| format!("reading {}", f.cert_file.display()))?;
        pem.push(b'\n');
        pem.extend(
            std::fs::read(&f.key_file)
                .with_context(|| format!("reading {}", f.key_file.display()))?,
        );
        b = b.identity(
            reqwest::Identity::from_pem(&pem).context("medmij.fetch: the certificate and key")?,
        );
        if let Some(ca) = &f.ca_file {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            b = b.tls_certs_only(
                reqwest::Certificate::from_pem_bundle(&pem)
                    .with_context(|| format!("parsing {}", ca.display()))?,
            );
        }
    }
    b.build().context("building the MedMij HTTP client")
}

/// Starts a node on a listener the caller bound (tests bind port 0 first to learn the issuer).
pub async fn start_on(
    config: &Config,
    listener: tokio::net::TcpListener,
    master: MasterKey,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Server> {
    start_with(config, listener, master, clock, Hooks::default()).await
}

/// [`start_on`], with hooks.
pub async fn start_with(
    config: &Config,
    listener: tokio::net::TcpListener,
    master: MasterKey,
    clock: Arc<dyn Clock>,
    hooks: Hooks,
) -> anyhow::Result<Server> {
    let store = open_store(config).await?;
    let report = provision::apply(store.as_ref(), &config.declared, clock.now())
        .await
        .context("applying the configuration")?;
    tracing::info!(
        created = report.created,
        updated = report.updated,
        unchanged = report.unchanged,
        "configuration applied"
    );
    wissel_http::keys::rotate(
        store.as_ref(),
        &master,
        config.signing_alg,
        &config.id_token_algs,
        &config.rotation,
        clock.now(),
        false,
    )
    .await
    .context("preparing signing keys")?;
    let settings = Settings {
        issuer: config.issuer.clone(),
        max_body_bytes: config.max_body_bytes,
        body_timeout: config.body_timeout,
        signing_alg: config.signing_alg,
        id_token_algs: config.id_token_algs.clone(),
        rotation: config.rotation,
        sync_interval: config.sync_interval,
        maintenance_interval: config.maintenance_interval,
        purge_batch: config.purge_batch,
        token_cache_capacity: config.token_cache_capacity,
        jwks_uri_ttl: config.jwks_uri_ttl,
        acmidm_path_aliases: config.acmidm_path_aliases,
        mutual_tls: config
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca_file.is_some()),
        hsts: config.tls.is_some(),
        login: config.login.clone(),
        ui: config.ui.clone(),
    };
    let metrics = if config.metrics {
        metrics_handle()
    } else {
        None
    };
    let store: Arc<dyn Store> = store;
    let medmij = match &config.medmij {
        None => None,
        Some(m) => Some(Arc::new(Medmij::new(
            m.settings.clone(),
            hooks
                .availability
                .clone()
                .unwrap_or_else(|| Arc::new(AllOffered)),
            hooks
                .secrets
                .clone()
                .unwrap_or_else(|| Arc::new(wissel_crypto::secret::generate_secret)),
            medmij_http(m)?,
        ))),
    };
    let state = AppState::new(
        settings,
        store,
        clock,
        master,
        Arc::new(LogAudit),
        metrics,
        medmij,
    )
    .await?;
    if state.medmij().is_some() {
        for (list, outcome) in state.refresh_medmij_lists().await? {
            tracing::info!(list = list.as_str(), ?outcome, "MedMij list at start");
        }
    }
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);

    let mut app = wissel_http::router(state.clone());
    if let Some(secret) = &config.demo_api_secret {
        app = app.merge(crate::demo_api::router(&config.issuer, secret)?);
    }
    let tls = match &config.tls {
        Some(tls) => Some(crate::tls::acceptor(
            &tls.cert_file,
            &tls.key_file,
            tls.client_ca_file.as_deref(),
        )?),
        None => None,
    };
    let limits = ConnectionLimits {
        max_connections: crate::listener::connection_cap(config.connections.max_connections),
        ..config.connections
    };
    let http = tokio::spawn(crate::listener::serve(
        listener,
        tls,
        app,
        limits,
        rx.clone(),
    ));
    let maintenance = tokio::spawn(maintain(state.clone(), rx));
    tracing::info!(%addr, issuer = %config.issuer, "wissel is serving");
    Ok(Server {
        addr,
        state,
        shutdown: tx,
        tasks: vec![http, maintenance],
    })
}

/// Keeps a node in step with the store: every sync interval, configuration generation and
/// revocations (and drains the metrics recorder's histograms); every maintenance interval, key rotation, key-ring refresh and purging.
async fn maintain(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut sync = tokio::time::interval(state.settings().sync_interval);
    // start_on has just applied the rotation schedule: the first maintenance run is one
    // interval away, so that it never races an operator's (or a test's) rotation at start-up.
    let period = state.settings().maintenance_interval;
    let mut maintenance = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    // The MedMij lists were read at start too.
    let lists_period = state
        .medmij()
        .map_or(std::time::Duration::from_secs(86_400), |m| {
            m.settings().lists.refresh_interval
        });
    let mut lists =
        tokio::time::interval_at(tokio::time::Instant::now() + lists_period, lists_period);
    lists.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
            _ = sync.tick() => {
                // Histograms keep every sample until drained: without this, a node whose
                // `/metrics` is never scraped grows by every request it serves.
                if let Some(metrics) = state.metrics() {
                    metrics.run_upkeep();
                    metrics::counter!("wissel_metrics_upkeep_total").increment(1);
                }
                if let Err(e) = state.sync_config().await {
                    tracing::warn!(cause = %e, "configuration sync failed");
                }
                if let Err(e) = state.poll_revocations().await {
                    tracing::warn!(cause = %e, "revocation sync failed");
                }
            }
            _ = lists.tick(), if state.medmij().is_some() => {
                if let Err(e) = state.refresh_medmij_lists().await {
                    tracing::warn!(cause = %e, "MedMij list refresh failed");
                }
            }
            _ = maintenance.tick() => {
                let s = state.settings();
                match wissel_http::keys::rotate(state.store(), state.master(), s.signing_alg, &s.id_token_algs, &s.rotation, state.now(), false).await {
                    Ok(done) if !done.is_empty() => tracing::info!(actions = ?done, "signing keys rotated"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(cause = %e, "key rotation failed"),
                }
                // Time alone can end a retired key's publication, so rebuild the ring.
                if let Err(e) = state.reload().await {
                    tracing::warn!(cause = %e, "reload failed");
                }
                match state.purge_expired().await {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "expired rows purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(cause = %e, "purge failed"),
                }
            }
        }
    }
}
