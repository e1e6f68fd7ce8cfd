//! Keeping the central lists: each comes from a file or a URL (fetched over mutual TLS with the
//! node's certificate), is parsed and validated, and replaces the one in force only when its
//! `Volgnummer` is not lower. The store keeps the last valid copy of each, so that every node and
//! every restart starts from it; when a fetch or a validation fails, the list in force stays.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wissel_core::InternalError;
use wissel_core::grant::StoredList;
use wissel_medmij::lists::{ListKind, ParsedList, parse_list};

use super::{Lists, Medmij};
use crate::state::AppState;

/// Where a list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSource {
    /// A file, read at every refresh.
    File(PathBuf),
    /// An `https` URL (the Stelselnode's), fetched at every refresh.
    Url(url::Url),
}

/// The lists' sources and refresh schedule.
#[derive(Debug, Clone, Default)]
pub struct ListsSettings {
    /// The configured sources; a list without one is only what `wissel medmij lists import`
    /// put in the store.
    pub sources: BTreeMap<ListKind, ListSource>,
    /// Namespaces accepted per list, when not the defaults.
    pub namespaces: BTreeMap<ListKind, Vec<String>>,
    /// How often the sources are read again.
    pub refresh_interval: Duration,
}

/// What a refresh did with one list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// A list (newer, or the first) is now in force.
    Installed {
        /// Its Volgnummer.
        volgnummer: u64,
    },
    /// The list in force is still the newest.
    Unchanged,
    /// The list in force stays: the new copy was refused or could not be read.
    Failed(String),
    /// No list of this kind exists yet.
    Missing,
}

/// Largest list document fetched.
const MAX_FETCH: usize = wissel_medmij::lists::MAX_LIST_BYTES;

/// Parses a stored or fetched document of a kind with the configured namespaces.
pub fn parse(
    settings: &ListsSettings,
    kind: ListKind,
    document: &[u8],
) -> Result<ParsedList, wissel_medmij::ListError> {
    let ns: Vec<&str> = settings
        .namespaces
        .get(&kind)
        .map(|v| v.iter().map(String::as_str).collect())
        .unwrap_or_default();
    parse_list(kind, document, &ns)
}

/// Validates a document and stores it as the last valid copy unless the store holds a higher
/// Volgnummer (`wissel medmij lists import`, and every refresh). Returns the parsed list.
pub async fn accept(
    store: &dyn wissel_core::ports::Store,
    settings: &ListsSettings,
    kind: ListKind,
    document: &[u8],
    now: i64,
) -> Result<ParsedList, String> {
    let list = parse(settings, kind, document).map_err(|e| e.to_string())?;
    let stored = StoredList {
        kind: kind.as_str().to_owned(),
        volgnummer: i64::try_from(list.header().volgnummer).map_err(|e| e.to_string())?,
        tijdstempel: list.header().tijdstempel.clone(),
        document: document.to_vec(),
        loaded_at: now,
    };
    if !store
        .put_medmij_list(&stored)
        .await
        .map_err(|e| e.to_string())?
    {
        let current = store
            .medmij_list(kind.as_str())
            .await
            .map_err(|e| e.to_string())?
            .map_or(0, |l| l.volgnummer);
        return Err(format!(
            "Volgnummer {} is lower than {current}, the Volgnummer of the list in force",
            list.header().volgnummer
        ));
    }
    Ok(list)
}

impl Medmij {
    async fn read_source(&self, source: &ListSource) -> Result<Vec<u8>, String> {
        match source {
            ListSource::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                if bytes.len() > MAX_FETCH {
                    return Err(format!("{} is too large", path.display()));
                }
                Ok(bytes)
            }
            ListSource::Url(url) => {
                crate::fetch::get_bounded(self.fetch_client().get(url.clone()), MAX_FETCH)
                    .await
                    .map_err(|e| match e {
                        crate::fetch::FetchError::TooLarge(_) => format!("{url} is too large"),
                        e => format!("fetching {url}: {e}"),
                    })
            }
        }
    }

    /// Reads every list: the store's last valid copy, then the configured source; installs the
    /// newest valid one of each. Failures leave the list in force and are logged and counted.
    pub async fn refresh_lists(
        &self,
        state: &AppState,
    ) -> Result<Vec<(ListKind, Refreshed)>, InternalError> {
        let settings = &self.settings().lists;
        let current = self.lists();
        let mut next = Lists {
            ocl: current.ocl.clone(),
            whitelist: current.whitelist.clone(),
            gnl: current.gnl.clone(),
            zal: current.zal.clone(),
            ..Lists::default()
        };
        let mut report = Vec::new();
        for kind in ListKind::ALL {
            let mut outcome = Refreshed::Unchanged;
            if let Some(source) = settings.sources.get(&kind) {
                let fetched = match self.read_source(source).await {
                    Ok(bytes) => accept(state.store(), settings, kind, &bytes, state.now())
                        .await
                        .map(|_| ()),
                    Err(e) => Err(e),
                };
                if let Err(why) = fetched {
                    metrics::counter!("wissel_medmij_list_refresh_failures_total", "list" => kind.as_str())
                        .increment(1);
                    tracing::warn!(target: "wissel::medmij", list = kind.as_str(), reason = %why, "list refused; the list in force stays");
                    outcome = Refreshed::Failed(why);
                }
            }
            // The store holds the newest valid copy (this node's, another node's, or an import).
            if let Some(stored) = state.store().medmij_list(kind.as_str()).await? {
                let in_force = next.header(kind).map(|h| h.volgnummer);
                let newer = in_force
                    .is_none_or(|v| i64::try_from(v).unwrap_or(i64::MAX) < stored.volgnummer);
                if newer {
                    match parse(settings, kind, &stored.document) {
                        Ok(list) => {
                            let volgnummer = list.header().volgnummer;
                            set(&mut next, list);
                            if !matches!(outcome, Refreshed::Failed(_)) {
                                outcome = Refreshed::Installed { volgnummer };
                            }
                            tracing::info!(target: "wissel::medmij", list = kind.as_str(), volgnummer, "list in force");
                        }
                        Err(e) => {
                            tracing::error!(target: "wissel::medmij", list = kind.as_str(), reason = %e, "the stored list no longer validates (changed namespaces?)");
                            outcome = Refreshed::Failed(e.to_string());
                        }
                    }
                }
            }
            if next.header(kind).is_none() && !matches!(outcome, Refreshed::Failed(_)) {
                outcome = Refreshed::Missing;
            }
            report.push((kind, outcome));
        }
        self.install(next);
        Ok(report)
    }
}

fn set(lists: &mut Lists, list: ParsedList) {
    match list {
        ParsedList::Ocl(l) => lists.ocl = Some(Arc::new(l)),
        ParsedList::Whitelist(l) => lists.whitelist = Some(Arc::new(l)),
        ParsedList::Gnl(l) => lists.gnl = Some(Arc::new(l)),
        ParsedList::Zal(l) => lists.zal = Some(Arc::new(l)),
    }
}
