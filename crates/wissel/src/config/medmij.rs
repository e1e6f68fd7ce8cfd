//! The `[medmij]` section: the MedMij profile (docs/medmij.md). Every choice the
//! Afsprakenstelsel leaves open has a key here, with the default docs/medmij.md explains.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wissel_core::scope::ScopeSet;
use wissel_http::medmij::{
    AanbiederSetting, ChainLogSettings, HeaderPolicy, ListSource, ListsSettings, MedmijSettings,
    MismatchPolicy,
};
use wissel_medmij::ListKind;
use wissel_medmij::lists::{is_gegevensdienst_id, is_zorgaanbiedernaam};

use super::{Problems, parse_enum};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMedmij {
    interface_version: String,
    server_hostname: Option<String>,
    headers: String,
    correlation_mismatch: String,
    token_query_parameters: bool,
    access_token_secs: i64,
    code_secs: i64,
    consent_max_days: i64,
    consent_default_days: i64,
    uniqueness_retention_days: i64,
    refresh_interval_secs: u64,
    lists: RawLists,
    fetch: Option<RawIdentity>,
    chain_log: RawChainLog,
    aanbieders: Vec<RawAanbieder>,
}

impl Default for RawMedmij {
    fn default() -> Self {
        Self {
            interface_version: "2.2.0".into(),
            server_hostname: None,
            headers: "refuse".into(),
            correlation_mismatch: "refuse".into(),
            token_query_parameters: false,
            access_token_secs: 900,
            code_secs: 60,
            consent_max_days: 365,
            consent_default_days: 90,
            uniqueness_retention_days: 400,
            refresh_interval_secs: 3600,
            lists: RawLists::default(),
            fetch: None,
            chain_log: RawChainLog::default(),
            aanbieders: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLists {
    ocl: Option<String>,
    whitelist: Option<String>,
    gnl: Option<String>,
    zal: Option<String>,
    #[serde(default)]
    namespaces: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    cert_file: PathBuf,
    key_file: PathBuf,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawChainLog {
    file: Option<PathBuf>,
    endpoint: Option<String>,
    batch_size: usize,
    flush_interval_secs: u64,
    buffer: usize,
    max_attempts: u32,
}

impl Default for RawChainLog {
    fn default() -> Self {
        Self {
            file: None,
            endpoint: None,
            batch_size: 100,
            flush_interval_secs: 5,
            buffer: 10_000,
            max_attempts: 5,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAanbieder {
    naam: String,
    display_name: Option<String>,
    gegevensdiensten: Option<Vec<String>>,
    api: String,
}

/// The client certificate and trusted roots for fetching lists and shipping chain events.
#[derive(Debug, Clone)]
pub struct FetchIdentity {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// PEM roots to trust instead of the system's (PKIoverheid Private Root CA – G1).
    pub ca_file: Option<PathBuf>,
}

/// The validated section.
#[derive(Debug, Clone)]
pub struct MedmijConfig {
    /// What the HTTP layer needs.
    pub settings: MedmijSettings,
    /// How to fetch.
    pub fetch: Option<FetchIdentity>,
}

fn in_range(p: &mut Problems<'_>, key: &str, v: i64, lo: i64, hi: i64) {
    if !(lo..=hi).contains(&v) {
        p.add(
            format!("medmij.{key}"),
            format!("must be between {lo} and {hi}"),
        );
    }
}

/// Validates the section against the rest of the configuration: `apis` are the declared API
/// ids, `issuer_host` names this server when `server_hostname` is not set.
pub(super) fn validate(
    p: &mut Problems<'_>,
    raw: &RawMedmij,
    base: &Path,
    apis: &HashSet<String>,
    issuer_host: &str,
    mutual_tls: bool,
) -> Option<MedmijConfig> {
    if !mutual_tls {
        p.add(
            "medmij",
            "needs [server.tls] with client_ca_file: PGO servers authenticate with their certificate",
        );
    }
    if raw.interface_version.is_empty() || raw.interface_version.len() > 30 {
        p.add("medmij.interface_version", "must be 1 to 30 characters");
    }
    let headers = parse_enum(
        p,
        "medmij.headers",
        &raw.headers,
        &[("refuse", HeaderPolicy::Refuse), ("log", HeaderPolicy::Log)],
    );
    let correlation_mismatch = parse_enum(
        p,
        "medmij.correlation_mismatch",
        &raw.correlation_mismatch,
        &[
            ("refuse", MismatchPolicy::Refuse),
            ("log", MismatchPolicy::Log),
        ],
    );
    in_range(p, "access_token_secs", raw.access_token_secs, 60, 3600);
    in_range(p, "code_secs", raw.code_secs, 10, 600);
    in_range(p, "consent_max_days", raw.consent_max_days, 1, 3650);
    in_range(p, "consent_default_days", raw.consent_default_days, 1, 3650);
    if raw.consent_default_days > raw.consent_max_days {
        p.add(
            "medmij.consent_default_days",
            "must not exceed consent_max_days",
        );
    }
    in_range(
        p,
        "uniqueness_retention_days",
        raw.uniqueness_retention_days,
        1,
        36_500,
    );
    if !(60..=86_400).contains(&raw.refresh_interval_secs) {
        p.add(
            "medmij.refresh_interval_secs",
            "must be between 60 and 86400",
        );
    }
    let mut sources = BTreeMap::new();
    for (kind, v) in [
        (ListKind::Ocl, &raw.lists.ocl),
        (ListKind::Whitelist, &raw.lists.whitelist),
        (ListKind::Gnl, &raw.lists.gnl),
        (ListKind::Zal, &raw.lists.zal),
    ] {
        let Some(v) = v else { continue };
        let key = format!("medmij.lists.{}", kind.as_str());
        if v.starts_with("https://") {
            match url::Url::parse(v) {
                Ok(u) => {
                    sources.insert(kind, ListSource::Url(u));
                }
                Err(e) => p.add(key, format!("not a URL: {e}")),
            }
        } else if v.contains("://") {
            p.add(
                key,
                "a list is fetched over https:// only, or read from a file",
            );
        } else {
            let path = base.join(v);
            if !path.is_file() {
                p.add(key, format!("{}: no such file", path.display()));
            }
            sources.insert(kind, ListSource::File(path));
        }
    }
    let mut namespaces = BTreeMap::new();
    for (k, v) in &raw.lists.namespaces {
        match ListKind::parse(k) {
            Some(kind) if !v.is_empty() => {
                namespaces.insert(kind, v.clone());
            }
            Some(_) => p.add(
                format!("medmij.lists.namespaces.{k}"),
                "must name at least one namespace",
            ),
            None => p.add(
                format!("medmij.lists.namespaces.{k}"),
                "is not one of ocl, whitelist, gnl, zal",
            ),
        }
    }
    let fetch = raw.fetch.as_ref().map(|f| FetchIdentity {
        cert_file: base.join(&f.cert_file),
        key_file: base.join(&f.key_file),
        ca_file: f.ca_file.as_ref().map(|c| base.join(c)),
    });
    if let Some(f) = &fetch {
        for (k, path) in [
            ("medmij.fetch.cert_file", Some(&f.cert_file)),
            ("medmij.fetch.key_file", Some(&f.key_file)),
            ("medmij.fetch.ca_file", f.ca_file.as_ref()),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                p.add(k, format!("{}: no such file", path.display()));
            }
        }
    }
    let endpoint = match &raw.chain_log.endpoint {
        None => None,
        Some(e) => match url::Url::parse(e) {
            Ok(u) if u.scheme() == "https" => Some(u),
            Ok(_) => {
                p.add("medmij.chain_log.endpoint", "must be an https URL");
                None
            }
            Err(err) => {
                p.add("medmij.chain_log.endpoint", format!("not a URL: {err}"));
                None
            }
        },
    };
    if !(1..=10_000).contains(&raw.chain_log.batch_size) {
        p.add("medmij.chain_log.batch_size", "must be between 1 and 10000");
    }
    if !(1..=1_000_000).contains(&raw.chain_log.buffer) {
        p.add("medmij.chain_log.buffer", "must be between 1 and 1000000");
    }
    if !(1..=3600).contains(&raw.chain_log.flush_interval_secs) {
        p.add(
            "medmij.chain_log.flush_interval_secs",
            "must be between 1 and 3600",
        );
    }
    if !(1..=100).contains(&raw.chain_log.max_attempts) {
        p.add("medmij.chain_log.max_attempts", "must be between 1 and 100");
    }
    let mut aanbieders = Vec::new();
    let mut seen = HashSet::new();
    for (i, a) in raw.aanbieders.iter().enumerate() {
        let key = format!("medmij.aanbieders[{i}]");
        if !is_zorgaanbiedernaam(&a.naam) {
            p.add(
                format!("{key}.naam"),
                "must be a Zorgaanbiedernaam: lower-case letters and @medmij, 10 to 57 characters",
            );
        } else if !seen.insert(a.naam.clone()) {
            p.add(
                format!("{key}.naam"),
                format!("{:?} is declared twice", a.naam),
            );
        }
        if !apis.contains(&a.api) {
            p.add(
                format!("{key}.api"),
                format!("{:?} is not a declared [[apis]] id", a.api),
            );
        }
        let gegevensdiensten = a.gegevensdiensten.as_ref().map(|ids| {
            for g in ids.iter().filter(|g| !is_gegevensdienst_id(g)) {
                p.add(
                    format!("{key}.gegevensdiensten"),
                    format!("{g:?} is not a GegevensdienstId (1 to 30 characters, no spaces or ~)"),
                );
            }
            ScopeSet::from_tokens(ids.iter().cloned())
        });
        aanbieders.push(AanbiederSetting {
            naam: a.naam.clone(),
            display_name: a.display_name.clone(),
            gegevensdiensten,
            api: a.api.clone(),
        });
    }
    if raw.aanbieders.is_empty() {
        p.add(
            "medmij.aanbieders",
            "name at least one aanbieder this server serves",
        );
    }
    let location = raw
        .server_hostname
        .clone()
        .unwrap_or_else(|| issuer_host.to_owned());
    Some(MedmijConfig {
        settings: MedmijSettings {
            interface_version: raw.interface_version.clone(),
            aanbieders,
            lists: ListsSettings {
                sources,
                namespaces,
                refresh_interval: Duration::from_secs(raw.refresh_interval_secs),
            },
            headers: headers?,
            correlation_mismatch: correlation_mismatch?,
            token_query_parameters: raw.token_query_parameters,
            access_token_lifetime: raw.access_token_secs,
            code_lifetime: raw.code_secs,
            consent_max_days: raw.consent_max_days,
            consent_default_days: raw.consent_default_days,
            uniqueness_retention: raw.uniqueness_retention_days.saturating_mul(86_400),
            chain_log: ChainLogSettings {
                location,
                file: raw.chain_log.file.as_ref().map(|f| base.join(f)),
                endpoint,
                batch_size: raw.chain_log.batch_size,
                flush_interval: Duration::from_secs(raw.chain_log.flush_interval_secs),
                buffer: raw.chain_log.buffer,
                max_attempts: raw.chain_log.max_attempts,
                retry_backoff: Duration::from_millis(500),
            },
        },
        fetch,
    })
}
