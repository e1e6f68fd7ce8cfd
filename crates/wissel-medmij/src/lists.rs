//! The central MedMij lists, parsed into typed records and validated against the rules of their
//! XSDs (core.lijsten; `medmij.md` §5): the default namespace of each list, the required elements
//! in their order, no elements or attributes the schema does not define, the patterns and
//! lengths of the values, and the uniqueness constraints. Each list carries a `Tijdstempel`
//! (`xs:dateTime`, at least 20 characters) and a `Volgnummer` (a positive integer) that grows
//! with every publication.

use std::collections::{BTreeMap, BTreeSet};

use wissel_core::civil;
use wissel_core::scope::is_scope_token;

use crate::xml::{Element, Seq, leaf, parse_tree};

/// Largest list accepted, in bytes.
pub const MAX_LIST_BYTES: usize = 32 * 1024 * 1024;

/// Why a list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// Not well-formed XML, or XML features the lists never use (a DOCTYPE, unknown entities).
    #[error("not well-formed: {0}")]
    Xml(String),
    /// The document is larger than [`MAX_LIST_BYTES`].
    #[error("the list is larger than {MAX_LIST_BYTES} bytes")]
    TooLarge,
    /// The root element or a namespace is not the list's.
    #[error("wrong root element or namespace: expected {expected}, found {found}")]
    Namespace {
        /// What was expected.
        expected: String,
        /// What the document has.
        found: String,
    },
    /// A rule of the schema is broken at `path`.
    #[error("{path}: {problem}")]
    Invalid {
        /// Where, as element names from the root.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The list is older than the one in force.
    #[error("Volgnummer {new} is lower than {current}, the Volgnummer of the list in force")]
    Older {
        /// The refused list's number.
        new: u64,
        /// The number of the list in force.
        current: u64,
    },
}

/// The four lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    /// The OAuth Client List: the PGO nodes and what each may receive.
    Ocl,
    /// The hostnames of every MedMij node.
    Whitelist,
    /// The Gegevensdienstnamenlijst: display names of the gegevensdiensten.
    Gnl,
    /// The Zorgaanbiederslijst: which aanbieder offers which gegevensdienst where.
    Zal,
}

impl ListKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ListKind; 4] = [Self::Ocl, Self::Whitelist, Self::Gnl, Self::Zal];

    /// The short name used in configuration, the store, metrics and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ocl => "ocl",
            Self::Whitelist => "whitelist",
            Self::Gnl => "gnl",
            Self::Zal => "zal",
        }
    }

    /// Parses a short name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The root element.
    pub fn root(self) -> &'static str {
        match self {
            Self::Ocl => "OAuthclientlist",
            Self::Whitelist => "Whitelist",
            Self::Gnl => "Gegevensdienstnamenlijst",
            Self::Zal => "Zorgaanbiederslijst",
        }
    }

    /// The namespaces accepted unless configured otherwise. The OCL of release 2 names no
    /// gegevensdiensten; the 2.x OCL that does (core.tknint.210) is taken to be `release3`, with
    /// per client `Interfaceversies/Interfaceversie/{InterfaceversieId, Gegevensdiensten}` — its
    /// published namespace was not available to us (docs/medmij.md).
    pub fn default_namespaces(self) -> &'static [&'static str] {
        match self {
            Self::Ocl => &[
                "xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release3/",
                "xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release2/",
            ],
            Self::Whitelist => &["xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/"],
            Self::Gnl => &["xmlns://afsprakenstelsel.medmij.nl/gegevensdienstnamenlijst/release1/"],
            Self::Zal => &["xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release3/"],
        }
    }
}

/// What every list starts with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListHeader {
    /// `Tijdstempel` as written.
    pub tijdstempel: String,
    /// `Tijdstempel` in Unix seconds (UTC when it names no offset).
    pub published_at: i64,
    /// `Volgnummer`.
    pub volgnummer: u64,
    /// The namespace the document used.
    pub namespace: String,
}

/// A PGO node on the OCL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OclClient {
    /// `Hostname`: the node's hostname, which is its `client_id`.
    pub hostname: String,
    /// `OAuthclientOrganisatienaam`: the PGO's name, shown on the consent screen.
    pub organisatienaam: String,
    /// Per `InterfaceversieId`, the gegevensdiensten the client is qualified for. Empty on an
    /// OCL that names none (release 2).
    pub interfaceversies: BTreeMap<String, BTreeSet<String>>,
}

/// The OAuth Client List.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ocl {
    /// Tijdstempel and Volgnummer.
    pub header: ListHeader,
    /// The clients by hostname.
    pub clients: BTreeMap<String, OclClient>,
}

/// The Whitelist: every MedMij node's hostname.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Whitelist {
    /// Tijdstempel and Volgnummer.
    pub header: ListHeader,
    /// The hostnames.
    pub nodes: BTreeSet<String>,
}

/// The Gegevensdienstnamenlijst.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gnl {
    /// Tijdstempel and Volgnummer.
    pub header: ListHeader,
    /// `Weergavenaam` by `GegevensdienstId`.
    pub names: BTreeMap<String, String>,
}

/// One gegevensdienst of an aanbieder on the ZAL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ZalGegevensdienst {
    /// `GegevensdienstId`.
    pub id: String,
    /// `AuthorizationEndpointuri`.
    pub authorization_endpoint: String,
    /// `TokenEndpointuri`.
    pub token_endpoint: String,
    /// `Abonneren/MaximaleDuur` in days, when the aanbieder offers subscriptions.
    pub maximale_duur: Option<u32>,
    /// `Systeemrolcode` → `ResourceEndpointuri`.
    pub systeemrollen: BTreeMap<String, String>,
}

/// An aanbieder on the ZAL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Zorgaanbieder {
    /// `Zorgaanbiedernaam`, `…@medmij`.
    pub naam: String,
    /// `Aanbiedertype` (`ZA`, `BAZB`, …).
    pub aanbiedertype: String,
    /// Per `InterfaceversieId`, its gegevensdiensten by id.
    pub interfaceversies: BTreeMap<String, BTreeMap<String, ZalGegevensdienst>>,
}

/// The Zorgaanbiederslijst.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Zal {
    /// Tijdstempel and Volgnummer.
    pub header: ListHeader,
    /// The aanbieders by name.
    pub aanbieders: BTreeMap<String, Zorgaanbieder>,
}

/// A parsed list of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedList {
    /// An OCL.
    Ocl(Ocl),
    /// A Whitelist.
    Whitelist(Whitelist),
    /// A GNL.
    Gnl(Gnl),
    /// A ZAL.
    Zal(Zal),
}

impl ParsedList {
    /// Its kind.
    pub fn kind(&self) -> ListKind {
        match self {
            Self::Ocl(_) => ListKind::Ocl,
            Self::Whitelist(_) => ListKind::Whitelist,
            Self::Gnl(_) => ListKind::Gnl,
            Self::Zal(_) => ListKind::Zal,
        }
    }

    /// Its Tijdstempel and Volgnummer.
    pub fn header(&self) -> &ListHeader {
        match self {
            Self::Ocl(l) => &l.header,
            Self::Whitelist(l) => &l.header,
            Self::Gnl(l) => &l.header,
            Self::Zal(l) => &l.header,
        }
    }

    /// How many entries it has.
    pub fn len(&self) -> usize {
        match self {
            Self::Ocl(l) => l.clients.len(),
            Self::Whitelist(l) => l.nodes.len(),
            Self::Gnl(l) => l.names.len(),
            Self::Zal(l) => l.aanbieders.len(),
        }
    }

    /// True when it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refuses this list when the one in force has a higher Volgnummer.
    pub fn may_replace(&self, current: Option<&ListHeader>) -> Result<(), ListError> {
        match current {
            Some(c) if self.header().volgnummer < c.volgnummer => Err(ListError::Older {
                new: self.header().volgnummer,
                current: c.volgnummer,
            }),
            _ => Ok(()),
        }
    }
}

/// Parses and validates a list. `namespaces` overrides [`ListKind::default_namespaces`] when
/// not empty.
pub fn parse_list(
    kind: ListKind,
    document: &[u8],
    namespaces: &[&str],
) -> Result<ParsedList, ListError> {
    if document.len() > MAX_LIST_BYTES {
        return Err(ListError::TooLarge);
    }
    let text = std::str::from_utf8(document)
        .map_err(|_| ListError::Xml("the list is not UTF-8".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let accepted = if namespaces.is_empty() {
        kind.default_namespaces()
    } else {
        namespaces
    };
    let (root, namespace) = parse_tree(text, kind.root(), accepted)?;
    let path = kind.root();
    let mut seq = Seq::of(&root, path)?;
    let header = header(&mut seq, namespace)?;
    let parsed = match kind {
        ListKind::Ocl => ParsedList::Ocl(Ocl {
            header,
            clients: ocl_clients(seq.one("OAuthclients")?, &seq.child_path("OAuthclients"))?,
        }),
        ListKind::Whitelist => ParsedList::Whitelist(Whitelist {
            header,
            nodes: whitelist_nodes(seq.one("MedMijNodes")?, &seq.child_path("MedMijNodes"))?,
        }),
        ListKind::Gnl => ParsedList::Gnl(Gnl {
            header,
            names: gnl_names(
                seq.one("Gegevensdiensten")?,
                &seq.child_path("Gegevensdiensten"),
            )?,
        }),
        ListKind::Zal => ParsedList::Zal(Zal {
            header,
            aanbieders: zal_aanbieders(
                seq.one("Zorgaanbieders")?,
                &seq.child_path("Zorgaanbieders"),
            )?,
        }),
    };
    seq.end()?;
    Ok(parsed)
}

fn invalid(path: &str, problem: impl Into<String>) -> ListError {
    ListError::Invalid {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

fn header(seq: &mut Seq<'_>, namespace: String) -> Result<ListHeader, ListError> {
    let path = seq.child_path("Tijdstempel");
    let tijdstempel = leaf(seq.one("Tijdstempel")?, &path)?.trim().to_owned();
    if tijdstempel.chars().count() < 20 {
        return Err(invalid(&path, "must be at least 20 characters"));
    }
    let published_at = parse_datetime(&tijdstempel)
        .ok_or_else(|| invalid(&path, "not an xs:dateTime (YYYY-MM-DDThh:mm:ss[.s][zone])"))?;
    let path = seq.child_path("Volgnummer");
    let raw = leaf(seq.one("Volgnummer")?, &path)?.trim();
    let volgnummer = raw
        .strip_prefix('+')
        .unwrap_or(raw)
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= 1 && raw.bytes().all(|b| b.is_ascii_digit() || b == b'+'))
        .ok_or_else(|| invalid(&path, "must be a positive integer"))?;
    Ok(ListHeader {
        tijdstempel,
        published_at,
        volgnummer,
        namespace,
    })
}

/// The `Hostname` pattern of the Whitelist and OCL schemas:
/// `(([a-z0-9])([a-z0-9-])*(\.))+([a-z0-9])([a-z0-9-])*([a-z0-9])`.
pub fn is_hostname(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 || s.len() > 253 {
        return false;
    }
    let (last, rest) = match labels.split_last() {
        Some(v) => v,
        None => return false,
    };
    let body_ok = |l: &str| {
        l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let starts_ok = |l: &str| {
        l.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    rest.iter().all(|l| starts_ok(l) && body_ok(l))
        && last.len() >= 2
        && starts_ok(last)
        && body_ok(last)
        && last
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A `GegevensdienstId`: 1–30 characters (the schemas), and usable in a token's `scope`: a
/// scope token (RFC 6749 §3.3) without `~`, which separates it from the aanbieder in a scope.
pub fn is_gegevensdienst_id(s: &str) -> bool {
    (1..=30).contains(&s.chars().count()) && is_scope_token(s) && !s.contains('~')
}

/// A `Zorgaanbiedernaam`: `([a-z])+@medmij`, 10–57 characters.
pub fn is_zorgaanbiedernaam(s: &str) -> bool {
    (10..=57).contains(&s.len())
        && s.strip_suffix("@medmij")
            .is_some_and(|local| !local.is_empty() && local.bytes().all(|b| b.is_ascii_lowercase()))
}

fn length_between(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.chars().count())
}

/// The schemas' `Backchanneluri` / `Frontchanneluri`: `https://` and a hostname, an optional
/// port (back channel only), and path segments without `?` or `#`.
fn is_channel_uri(s: &str, port_allowed: bool) -> bool {
    let Some(rest) = s.strip_prefix("https://") else {
        return false;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if port_allowed => {
            if !(1..=5).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            h
        }
        Some(_) => return false,
        None => authority,
    };
    is_hostname(host)
        && path
            .split('/')
            .skip(1)
            .all(|seg| !seg.is_empty() && !seg.contains(['?', '#']))
}

fn ocl_clients(el: &Element, path: &str) -> Result<BTreeMap<String, OclClient>, ListError> {
    let mut seq = Seq::of(el, path)?;
    let mut out = BTreeMap::new();
    for (i, c) in seq.many("OAuthclient").into_iter().enumerate() {
        let here = format!("{path}/OAuthclient[{}]", i + 1);
        let mut s = Seq::of(c, &here)?;
        let (hostname, _) = s.value("Hostname", is_hostname, "not a lower-case hostname")?;
        let (organisatienaam, _) = s.value(
            "OAuthclientOrganisatienaam",
            |v| length_between(v, 3, 50),
            "must be 3 to 50 characters",
        )?;
        let interfaceversies = match s.optional("Interfaceversies") {
            Some(v) => interfaceversies(v, &s.child_path("Interfaceversies"), gegevensdienst_ids)?,
            None => BTreeMap::new(),
        };
        s.end()?;
        if out.contains_key(&hostname) {
            return Err(invalid(&here, format!("Hostname {hostname} is not unique")));
        }
        out.insert(
            hostname.clone(),
            OclClient {
                hostname,
                organisatienaam,
                interfaceversies,
            },
        );
    }
    seq.end()?;
    Ok(out)
}

/// `Interfaceversies`: one or more `Interfaceversie`, each an `InterfaceversieId` (unique) and
/// its `Gegevensdiensten`, read by `diensten`.
fn interfaceversies<T>(
    el: &Element,
    path: &str,
    diensten: impl Fn(&Element, &str) -> Result<T, ListError>,
) -> Result<BTreeMap<String, T>, ListError> {
    let mut vs = Seq::of(el, path)?;
    let mut out = BTreeMap::new();
    for (j, iv) in vs.at_least_one("Interfaceversie")?.into_iter().enumerate() {
        let ivp = format!("{path}/Interfaceversie[{}]", j + 1);
        let mut is = Seq::of(iv, &ivp)?;
        let (id, idp) = is.value(
            "InterfaceversieId",
            |v| length_between(v, 1, 30),
            "must be 1 to 30 characters",
        )?;
        let gp = is.child_path("Gegevensdiensten");
        let d = diensten(is.one("Gegevensdiensten")?, &gp)?;
        is.end()?;
        if out.insert(id, d).is_some() {
            return Err(invalid(&idp, "InterfaceversieId is not unique"));
        }
    }
    vs.end()?;
    Ok(out)
}

/// `Gegevensdiensten/Gegevensdienst/GegevensdienstId`, unique.
fn gegevensdienst_ids(el: &Element, path: &str) -> Result<BTreeSet<String>, ListError> {
    let mut seq = Seq::of(el, path)?;
    let mut out = BTreeSet::new();
    for (i, g) in seq.many("Gegevensdienst").into_iter().enumerate() {
        let here = format!("{path}/Gegevensdienst[{}]", i + 1);
        let mut s = Seq::of(g, &here)?;
        let (id, p) = s.value(
            "GegevensdienstId",
            is_gegevensdienst_id,
            "must be 1 to 30 characters without spaces or ~",
        )?;
        s.end()?;
        if !out.insert(id) {
            return Err(invalid(&p, "GegevensdienstId is not unique"));
        }
    }
    seq.end()?;
    Ok(out)
}

fn whitelist_nodes(el: &Element, path: &str) -> Result<BTreeSet<String>, ListError> {
    let mut seq = Seq::of(el, path)?;
    let mut out = BTreeSet::new();
    for (i, n) in seq.many("MedMijNode").into_iter().enumerate() {
        let here = format!("{path}/MedMijNode[{}]", i + 1);
        let mut s = Seq::of(n, &here)?;
        let (hostname, p) = s.value("Hostname", is_hostname, "not a lower-case hostname")?;
        s.end()?;
        if !out.insert(hostname) {
            return Err(invalid(&p, "Hostname is not unique"));
        }
    }
    seq.end()?;
    Ok(out)
}

fn gnl_names(el: &Element, path: &str) -> Result<BTreeMap<String, String>, ListError> {
    let mut seq = Seq::of(el, path)?;
    let mut out = BTreeMap::new();
    for (i, g) in seq.many("Gegevensdienst").into_iter().enumerate() {
        let here = format!("{path}/Gegevensdienst[{}]", i + 1);
        let mut s = Seq::of(g, &here)?;
        let (id, p) = s.value(
            "GegevensdienstId",
            is_gegevensdienst_id,
            "must be 1 to 30 characters without spaces or ~",
        )?;
        let (name, _) = s.value(
            "Weergavenaam",
            |v| length_between(v, 3, 50),
            "must be 3 to 50 characters",
        )?;
        s.end()?;
        if out.insert(id, name).is_some() {
            return Err(invalid(&p, "GegevensdienstId is not unique"));
        }
    }
    seq.end()?;
    Ok(out)
}

/// The one child `inner` of the element `outer`, as text (`<TokenEndpoint><TokenEndpointuri>`).
fn wrapped(seq: &mut Seq<'_>, outer: &str, inner: &str) -> Result<String, ListError> {
    let p = seq.child_path(outer);
    let mut s = Seq::of(seq.one(outer)?, &p)?;
    let ip = s.child_path(inner);
    let v = leaf(s.one(inner)?, &ip)?.to_owned();
    s.end()?;
    Ok(v)
}

fn zal_aanbieders(el: &Element, path: &str) -> Result<BTreeMap<String, Zorgaanbieder>, ListError> {
    let mut seq = Seq::of(el, path)?;
    let mut out = BTreeMap::new();
    for (i, z) in seq.many("Zorgaanbieder").into_iter().enumerate() {
        let here = format!("{path}/Zorgaanbieder[{}]", i + 1);
        let mut s = Seq::of(z, &here)?;
        let (naam, p) = s.value(
            "Zorgaanbiedernaam",
            is_zorgaanbiedernaam,
            "must be lower-case letters and @medmij, 10 to 57 characters",
        )?;
        let tp = s.child_path("Aanbiedertype");
        let aanbiedertype = leaf(s.one("Aanbiedertype")?, &tp)?.to_owned();
        if !length_between(&aanbiedertype, 1, 10)
            || !aanbiedertype.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(invalid(
                &tp,
                "must be an upper-case code such as ZA or BAZB",
            ));
        }
        let vp = s.child_path("Interfaceversies");
        let interfaceversies =
            interfaceversies(s.one("Interfaceversies")?, &vp, zal_gegevensdiensten)?;
        s.end()?;
        if out.contains_key(&naam) {
            return Err(invalid(
                &p,
                format!("Zorgaanbiedernaam {naam} is not unique"),
            ));
        }
        out.insert(
            naam.clone(),
            Zorgaanbieder {
                naam,
                aanbiedertype,
                interfaceversies,
            },
        );
    }
    seq.end()?;
    Ok(out)
}

fn zal_gegevensdiensten(
    el: &Element,
    path: &str,
) -> Result<BTreeMap<String, ZalGegevensdienst>, ListError> {
    let mut seq = Seq::of(el, path)?;
    let mut out = BTreeMap::new();
    for (i, g) in seq.at_least_one("Gegevensdienst")?.into_iter().enumerate() {
        let here = format!("{path}/Gegevensdienst[{}]", i + 1);
        let mut s = Seq::of(g, &here)?;
        let (id, p) = s.value(
            "GegevensdienstId",
            is_gegevensdienst_id,
            "must be 1 to 30 characters without spaces or ~",
        )?;
        let authorization_endpoint =
            wrapped(&mut s, "AuthorizationEndpoint", "AuthorizationEndpointuri")?;
        if !is_channel_uri(&authorization_endpoint, false) {
            return Err(invalid(
                &format!("{here}/AuthorizationEndpoint"),
                "not an https URI on a hostname",
            ));
        }
        let token_endpoint = wrapped(&mut s, "TokenEndpoint", "TokenEndpointuri")?;
        if !is_channel_uri(&token_endpoint, true) {
            return Err(invalid(
                &format!("{here}/TokenEndpoint"),
                "not an https URI on a hostname",
            ));
        }
        let mut maximale_duur = None;
        if let Some(a) = s.optional("Abonneren") {
            let ap = s.child_path("Abonneren");
            let mut as_ = Seq::of(a, &ap)?;
            let dp = as_.child_path("MaximaleDuur");
            let days = leaf(as_.one("MaximaleDuur")?, &dp)?
                .trim()
                .parse::<u32>()
                .map_err(|_| invalid(&dp, "must be a number of days"))?;
            let sp = as_.child_path("SubscriptionEndpointuri");
            let uri = leaf(as_.one("SubscriptionEndpointuri")?, &sp)?;
            if !is_channel_uri(uri, true) {
                return Err(invalid(&sp, "not an https URI on a hostname"));
            }
            as_.end()?;
            maximale_duur = Some(days);
        }
        let rp = s.child_path("Systeemrollen");
        let mut rs = Seq::of(s.one("Systeemrollen")?, &rp)?;
        let mut systeemrollen = BTreeMap::new();
        for (j, r) in rs.at_least_one("Systeemrol")?.into_iter().enumerate() {
            let srp = format!("{rp}/Systeemrol[{}]", j + 1);
            let mut ss = Seq::of(r, &srp)?;
            let (code, cp) = ss.value(
                "Systeemrolcode",
                |v| length_between(v, 1, 30),
                "must be 1 to 30 characters",
            )?;
            let uri = wrapped(&mut ss, "ResourceEndpoint", "ResourceEndpointuri")?;
            if !is_channel_uri(&uri, true) {
                return Err(invalid(
                    &format!("{srp}/ResourceEndpoint"),
                    "not an https URI on a hostname",
                ));
            }
            ss.end()?;
            if systeemrollen.insert(code, uri).is_some() {
                return Err(invalid(&cp, "Systeemrolcode is not unique"));
            }
        }
        rs.end()?;
        s.end()?;
        if out.contains_key(&id) {
            return Err(invalid(&p, "GegevensdienstId is not unique"));
        }
        out.insert(
            id.clone(),
            ZalGegevensdienst {
                id,
                authorization_endpoint,
                token_endpoint,
                maximale_duur,
                systeemrollen,
            },
        );
    }
    seq.end()?;
    Ok(out)
}

/// Parses an `xs:dateTime` (`YYYY-MM-DDThh:mm:ss`, optional fraction, optional `Z` or `±hh:mm`)
/// to Unix seconds; a time without a zone is taken as UTC.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 19
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
    {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let days_in_month = civil::days_in_month(year, month)?;
    if year < 1 || day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "" | "Z" => 0,
        zone => {
            let sign = match zone.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let zb = zone.as_bytes();
            if zone.len() != 6 || zb.get(3) != Some(&b':') {
                return None;
            }
            let digits = |r: std::ops::Range<usize>| -> Option<i64> {
                let p = zone.get(r)?;
                if p.bytes().all(|c| c.is_ascii_digit()) {
                    p.parse().ok()
                } else {
                    None
                }
            };
            let (h, m) = (digits(1..3)?, digits(4..6)?);
            if h > 14 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let at = civil::to_unix(civil::Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
    });
    Some(at - offset)
}

/// Formats Unix seconds as an ISO 8601 date-time in UTC (`2026-12-01T20:00:00Z`): the inverse of
/// [`parse_datetime`], for chain-log events.
pub fn format_datetime(unix: i64) -> String {
    let c = civil::from_unix(unix);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_is_the_inverse_of_parsing() {
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_datetime(1_709_166_600), "2024-02-29T00:30:00Z");
        for t in [0, 951_782_400, 1_523_878_919, 1_796_022_000, 4_102_444_800] {
            assert_eq!(parse_datetime(&format_datetime(t)), Some(t), "{t}");
        }
    }

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_datetime("2018-04-16T11:41:59Z"), Some(1_523_878_919));
        assert_eq!(
            parse_datetime("2021-05-04T18:13:51.0+01:00"),
            Some(1_620_148_431)
        );
        assert_eq!(
            parse_datetime("2024-02-29T00:00:00-00:30"),
            Some(1_709_166_600)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2018-13-16T11:41:59Z",
            "2018-04-16 11:41:59Z",
            "2018-04-16T24:00:00Z",
            "2018-04-16T11:41:59.Z",
            "2018-04-16T11:41:59+1:00",
            "2018-04-16T11:41:59Zjunk",
            "+018-04-16T11:41:59Z",
            "",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn hostnames_follow_the_schema_pattern() {
        for good in ["medmij.deenigeechtepgo.nl", "a.bc", "x-1.y2.nl", "0.nl"] {
            assert!(is_hostname(good), "{good}");
        }
        for bad in [
            "localhost",
            "Medmij.nl",
            "-a.nl",
            "a..nl",
            "a.n",
            "a.nl-",
            "a.nl.",
            "a_b.nl",
            "*.example.nl",
            "a.nl:443",
        ] {
            assert!(!is_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn names_and_ids() {
        assert!(is_zorgaanbiedernaam("umcharderwijk@medmij"));
        assert!(is_zorgaanbiedernaam("umc@medmij"));
        assert!(!is_zorgaanbiedernaam("um@medmij"), "10 characters at least");
        assert!(!is_zorgaanbiedernaam("Umcharderwijk@medmij"));
        assert!(!is_zorgaanbiedernaam("umcharderwijk"));
        assert!(is_gegevensdienst_id("48"));
        assert!(!is_gegevensdienst_id(""));
        assert!(!is_gegevensdienst_id("4 8"));
        assert!(!is_gegevensdienst_id("a~b"));
        assert!(!is_gegevensdienst_id(&"1".repeat(31)));
    }

    #[test]
    fn channel_uris() {
        assert!(is_channel_uri("https://a.example.nl/oauth/token", true));
        assert!(is_channel_uri("https://a.example.nl:8443/t", true));
        assert!(!is_channel_uri("https://a.example.nl:8443/t", false));
        assert!(!is_channel_uri("http://a.example.nl/t", true));
        assert!(!is_channel_uri("https://a.example.nl/t?x=1", true));
        assert!(!is_channel_uri("https://a.example.nl//t", true));
    }
}

#[cfg(test)]
mod documents;
