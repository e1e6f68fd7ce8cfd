//! `wissel link`, `wissel authz` and `wissel policy`: links and authorizations changed one at a
//! time in the store (every node picks a change up through the generation counter), and the
//! token-exchange policy explained for one client, API and user.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::Value;
use wissel::config::{self, Config};
use wissel::server;
use wissel_core::OAuthError;
use wissel_core::flows::exchange::{self, Exchange, UserAccess};
use wissel_core::model::{
    AccessToken, Api, Authorization, Client, Derivation, GrantType, Grantee, Link, Registry,
    TokenFormat, User,
};
use wissel_core::ports::{Clock, GrantStore, Missing, PutOutcome, RegistryStore, SystemClock};
use wissel_core::scope::{self, ScopeSet, ScopeSources};
use wissel_store::SqlStore;

/// A usage error: a bad argument, or a client, API, user, link or authorization that does not
/// exist. `wissel` exits with status 2 for these (as for the argument errors clap reports), and
/// 1 for every other failure.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

#[derive(Subcommand)]
pub enum LinkCommand {
    /// Create or replace the link from a client to an API (the whole link: what is not given
    /// is off or empty).
    Set {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The client id.
        #[arg(long)]
        client: String,
        /// The API id.
        #[arg(long)]
        api: String,
        /// The scopes the client may obtain, separated by spaces; each must be offered by the
        /// API. None when absent.
        #[arg(long, value_name = "SCOPES")]
        scopes: Option<String>,
        /// The API trusts the client to exchange users' tokens for it (RFC 8693).
        #[arg(long)]
        exchange: bool,
        /// The client may present an actor token when it exchanges (needs --exchange).
        #[arg(long)]
        delegation: bool,
        /// The actor that tokens issued under this link name in `may_act`.
        #[arg(long, value_name = "SUB")]
        may_act: Option<String>,
        /// An attribute returned at introspection (repeatable). The value is taken as JSON
        /// when it parses (`tier=2`, `vip=true`, `tags=["a"]`), else as a string.
        #[arg(long = "attribute", value_name = "KEY=VALUE")]
        attributes: Vec<String>,
    },
    /// Remove the link from a client to an API.
    Remove {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The client id.
        #[arg(long)]
        client: String,
        /// The API id.
        #[arg(long)]
        api: String,
    },
    /// List links.
    List {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Only the links of this client.
        #[arg(long)]
        client: Option<String>,
        /// Only the links to this API.
        #[arg(long)]
        api: Option<String>,
    },
}

/// A user or a group.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct GranteeArg {
    /// A user, by username.
    #[arg(long)]
    user: Option<String>,
    /// A group, by name.
    #[arg(long)]
    group: Option<String>,
}

impl GranteeArg {
    fn grantee(&self) -> anyhow::Result<Grantee> {
        match (&self.user, &self.group) {
            (Some(u), None) => Ok(Grantee::User(u.clone())),
            (None, Some(g)) if !g.is_empty() => Ok(Grantee::Group(g.clone())),
            (None, Some(_)) => Err(usage("--group: a group name cannot be empty")),
            _ => Err(usage("give exactly one of --user, --group")),
        }
    }
}

#[derive(Subcommand)]
pub enum AuthzCommand {
    /// Set the scopes a user or group holds for an API (replacing what it held).
    Grant {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        grantee: GranteeArg,
        /// The API id.
        #[arg(long)]
        api: String,
        /// The scopes, separated by spaces; each must be offered by the API.
        #[arg(long, value_name = "SCOPES")]
        scopes: String,
    },
    /// Remove what a user or group holds for an API.
    Revoke {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        grantee: GranteeArg,
        /// The API id.
        #[arg(long)]
        api: String,
    },
    /// List authorizations.
    List {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Only those for this API.
        #[arg(long)]
        api: Option<String>,
        /// Only those that apply to this user: their own and their groups'.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// What token exchange would answer this client for this user and API, and why: every
    /// check in order, and for each scope the sources that refuse it.
    Explain {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The client that would exchange.
        #[arg(long)]
        client: String,
        /// The target API.
        #[arg(long)]
        api: String,
        /// The user whose token would be exchanged, by username.
        #[arg(long)]
        user: String,
        /// The `scope` parameter, separated by spaces; absent means all that the other
        /// sources allow.
        #[arg(long, value_name = "SCOPES")]
        scope: Option<String>,
    },
}

async fn open(path: &Path) -> anyhow::Result<(Config, Arc<SqlStore>)> {
    let c = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = server::open_store(&c).await?;
    Ok((c, store))
}

/// Scopes given on the command line: tokens separated by any whitespace, each checked against
/// the RFC 6749 grammar; an empty argument is the empty set.
fn parse_scopes(flag: &str, raw: &str) -> anyhow::Result<ScopeSet> {
    let mut set = ScopeSet::new();
    for token in raw.split_whitespace() {
        if !scope::is_scope_token(token) {
            return Err(usage(format!(
                "{flag}: {token:?} is not a scope token (RFC 6749 §3.3)"
            )));
        }
        set.insert(token);
    }
    Ok(set)
}

fn client_of<'a>(registry: &'a Registry, id: &str) -> anyhow::Result<&'a Arc<Client>> {
    registry
        .client(id)
        .ok_or_else(|| usage(format!("there is no client {id:?}")))
}

fn api_of<'a>(registry: &'a Registry, id: &str) -> anyhow::Result<&'a Arc<Api>> {
    registry
        .api(id)
        .ok_or_else(|| usage(format!("there is no API {id:?}")))
}

async fn user_of(store: &SqlStore, username: &str) -> anyhow::Result<User> {
    store
        .find_user(username)
        .await?
        .ok_or_else(|| usage(format!("there is no user {username:?}")))
}

/// Each scope the API does not offer, as a problem.
fn unoffered(flag: &str, api: &Api, scopes: &ScopeSet) -> Vec<String> {
    scopes
        .iter()
        .filter(|s| !api.scopes.contains_key(*s))
        .map(|s| format!("{flag}: {s:?} is not offered by API {:?}", api.id))
        .collect()
}

fn refuse(what: &str, problems: Vec<String>) -> anyhow::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<_> = problems.iter().map(|p| format!("  - {p}")).collect();
    Err(usage(format!("{what}:\n{}", lines.join("\n"))))
}

/// `--attribute key=value`: JSON when the value parses as JSON, else the string.
fn parse_attributes(args: &[String]) -> (BTreeMap<String, Value>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            problems.push(format!("--attribute {arg}: expected KEY=VALUE"));
            continue;
        };
        if key.is_empty() {
            problems.push(format!("--attribute {arg}: the key is empty"));
            continue;
        }
        if config::is_reserved_member(key) {
            problems.push(format!(
                "--attribute {key}: {key:?} is a standard introspection member"
            ));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        if out.insert(key.to_owned(), value).is_some() {
            problems.push(format!("--attribute {key} is given twice"));
        }
    }
    (out, problems)
}

/// A link's rules, as for `[[links]]` in the configuration file.
fn link_problems(link: &Link, api: &Api, attribute_problems: Vec<String>) -> Vec<String> {
    let mut problems = unoffered("--scopes", api, &link.scopes);
    problems.extend(attribute_problems);
    if link.delegation && !link.exchange {
        problems.push(
            "--delegation: delegation is a kind of token exchange: give --exchange too".into(),
        );
    }
    if let Some(m) = &link.may_act
        && !config::is_valid_id(m)
    {
        problems.push(
            "--may-act: must be 1–128 printable ASCII characters (the actor's subject)".into(),
        );
    }
    problems
}

fn outcome_word(outcome: PutOutcome) -> &'static str {
    match outcome {
        PutOutcome::Created => "created",
        PutOutcome::Replaced => "replaced",
        PutOutcome::Unchanged => "unchanged (already so)",
        PutOutcome::Missing(_) => "not stored",
    }
}

fn missing_error(missing: Missing, client: &str, api: &str, user: &str) -> anyhow::Error {
    usage(match missing {
        Missing::Client => format!("there is no client {client:?}"),
        Missing::Api => format!("there is no API {api:?}"),
        Missing::User => format!("there is no user {user:?}"),
    })
}

/// Tells that the configuration file declares what was changed: the next `apply` or start
/// restores the declared form.
fn warn_declared(config: &Path, what: &str) {
    eprintln!(
        "note: {} declares {what}; `wissel apply` and every start restore the declared form",
        config.display()
    );
}

const SYNC_NOTE: &str = "running nodes pick the change up within server.sync_interval_ms";

/// After a change: revokes the grants that policy no longer allows (a removed or narrowed link or
/// authorization), then says when running nodes follow.
async fn changed(store: &SqlStore) -> anyhow::Result<()> {
    let w = wissel::withdraw::withdraw_disallowed(store, SystemClock.now()).await?;
    if w.revoked > 0 {
        println!(
            "{} grant(s) that policy no longer allows revoked (their refresh and access tokens \
             stop)",
            w.revoked
        );
    }
    println!("{SYNC_NOTE}");
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "-".into() } else { s }
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Attributes as one line of JSON, or `-`.
fn attributes_text(attributes: &BTreeMap<String, Value>) -> String {
    if attributes.is_empty() {
        return "-".into();
    }
    Value::Object(attributes.clone().into_iter().collect()).to_string()
}

fn grantee_text(g: &Grantee) -> String {
    match g {
        Grantee::User(u) => format!("user {u}"),
        Grantee::Group(g) => format!("group {g}"),
    }
}

pub async fn link(command: LinkCommand) -> anyhow::Result<()> {
    match command {
        LinkCommand::Set {
            config,
            client,
            api,
            scopes,
            exchange,
            delegation,
            may_act,
            attributes,
        } => {
            let scopes = parse_scopes("--scopes", scopes.as_deref().unwrap_or(""))?;
            let (attributes, attribute_problems) = parse_attributes(&attributes);
            let (c, store) = open(&config).await?;
            let registry = store.load_registry().await?;
            let the_client = client_of(&registry, &client)?.clone();
            let the_api = api_of(&registry, &api)?;
            let link = Link {
                client: client.clone(),
                api: api.clone(),
                scopes,
                exchange,
                delegation,
                may_act,
                attributes,
            };
            refuse(
                &format!("this link cannot be set ({client} → {api})"),
                link_problems(&link, the_api, attribute_problems),
            )?;
            let outcome = store.put_link(&link, SystemClock.now()).await?;
            if let PutOutcome::Missing(m) = outcome {
                return Err(missing_error(m, &client, &api, ""));
            }
            println!("link {client} → {api} {}", outcome_word(outcome));
            if link.scopes.is_empty() {
                eprintln!("note: the link allows no scope (give --scopes)");
            }
            if link.exchange && !the_client.allows(GrantType::TokenExchange) {
                eprintln!(
                    "note: client {client} may not use the token-exchange grant yet (add \
                     token_exchange to its grant_types)"
                );
            }
            if c.declared
                .links
                .iter()
                .any(|l| l.client == client && l.api == api)
            {
                warn_declared(&config, "this link");
            }
            if outcome != PutOutcome::Unchanged {
                changed(store.as_ref()).await?;
            }
            Ok(())
        }
        LinkCommand::Remove {
            config,
            client,
            api,
        } => {
            let (c, store) = open(&config).await?;
            if !store.delete_link(&client, &api, SystemClock.now()).await? {
                return Err(usage(format!(
                    "there is no link from {client:?} to {api:?}"
                )));
            }
            println!("link {client} → {api} removed");
            if c.declared
                .links
                .iter()
                .any(|l| l.client == client && l.api == api)
            {
                warn_declared(&config, "this link");
            }
            changed(store.as_ref()).await?;
            Ok(())
        }
        LinkCommand::List {
            config,
            client,
            api,
        } => {
            let (_, store) = open(&config).await?;
            let registry = store.load_registry().await?;
            if let Some(id) = &client {
                client_of(&registry, id)?;
            }
            if let Some(id) = &api {
                api_of(&registry, id)?;
            }
            let mut links: Vec<&Arc<Link>> = registry
                .clients()
                .filter(|c| client.as_ref().is_none_or(|id| &c.id == id))
                .flat_map(|c| registry.links_of(&c.id))
                .filter(|l| api.as_ref().is_none_or(|id| &l.api == id))
                .collect();
            links.sort_by(|a, b| (&a.client, &a.api).cmp(&(&b.client, &b.api)));
            let rows: Vec<Vec<String>> = links
                .iter()
                .map(|l| {
                    vec![
                        l.client.clone(),
                        l.api.clone(),
                        or_dash(l.scopes.to_string()),
                        yes_no(l.exchange).into(),
                        yes_no(l.delegation).into(),
                        l.may_act.clone().unwrap_or_else(|| "-".into()),
                        attributes_text(&l.attributes),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "client",
                        "api",
                        "scopes",
                        "exchange",
                        "delegation",
                        "may_act",
                        "attributes"
                    ],
                    &rows
                )
            );
            if rows.is_empty() {
                println!("(no links)");
            }
            Ok(())
        }
    }
}

pub async fn authz(command: AuthzCommand) -> anyhow::Result<()> {
    match command {
        AuthzCommand::Grant {
            config,
            grantee,
            api,
            scopes,
        } => {
            let grantee = grantee.grantee()?;
            let scopes = parse_scopes("--scopes", &scopes)?;
            let (c, store) = open(&config).await?;
            let registry = store.load_registry().await?;
            refuse(
                "this authorization cannot be granted",
                unoffered("--scopes", api_of(&registry, &api)?, &scopes),
            )?;
            if let Grantee::User(u) = &grantee {
                user_of(&store, u).await?;
            }
            let authorization = Authorization {
                grantee: grantee.clone(),
                api: api.clone(),
                scopes,
            };
            let outcome = store
                .put_authorization(&authorization, SystemClock.now())
                .await?;
            if let PutOutcome::Missing(m) = outcome {
                let user = match &grantee {
                    Grantee::User(u) => u.as_str(),
                    Grantee::Group(_) => "",
                };
                return Err(missing_error(m, "", &api, user));
            }
            println!(
                "authorization {} → {api} {}: {}",
                grantee_text(&grantee),
                outcome_word(outcome),
                or_dash(authorization.scopes.to_string())
            );
            if authorization.scopes.is_empty() {
                eprintln!(
                    "note: no scope: token exchange finds the grantee authorized for the API \
                     but grants nothing from this authorization"
                );
            }
            if c.declared
                .authorizations
                .iter()
                .any(|a| a.grantee == grantee && a.api == api)
            {
                warn_declared(&config, "this authorization");
            }
            if outcome != PutOutcome::Unchanged {
                changed(store.as_ref()).await?;
            }
            Ok(())
        }
        AuthzCommand::Revoke {
            config,
            grantee,
            api,
        } => {
            let grantee = grantee.grantee()?;
            let (c, store) = open(&config).await?;
            if !store
                .delete_authorization(&grantee, &api, SystemClock.now())
                .await?
            {
                return Err(usage(format!(
                    "{} holds no authorization for API {api:?}",
                    grantee_text(&grantee)
                )));
            }
            println!("authorization {} → {api} revoked", grantee_text(&grantee));
            if c.declared
                .authorizations
                .iter()
                .any(|a| a.grantee == grantee && a.api == api)
            {
                warn_declared(&config, "this authorization");
            }
            changed(store.as_ref()).await?;
            Ok(())
        }
        AuthzCommand::List { config, api, user } => {
            let (_, store) = open(&config).await?;
            if let Some(id) = &api {
                api_of(&store.load_registry().await?, id)?;
            }
            let user = match &user {
                Some(u) => Some(user_of(&store, u).await?),
                None => None,
            };
            let list: Vec<Authorization> = store
                .list_authorizations(api.as_deref())
                .await?
                .into_iter()
                .filter(|a| user.as_ref().is_none_or(|u| applies_to(&a.grantee, u)))
                .collect();
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|a| {
                    vec![
                        a.api.clone(),
                        grantee_text(&a.grantee),
                        or_dash(a.scopes.to_string()),
                    ]
                })
                .collect();
            print!("{}", table(&["api", "grantee", "scopes"], &rows));
            if rows.is_empty() {
                println!("(no authorizations)");
            }
            if let Some(u) = &user {
                // What the user holds per API: their own and their groups' united, as token
                // exchange counts it.
                let mut held: BTreeMap<&str, ScopeSet> = BTreeMap::new();
                for a in &list {
                    let e = held.entry(a.api.as_str()).or_default();
                    *e = e.union(&a.scopes);
                }
                for (api, scopes) in held {
                    println!(
                        "{} holds for {api}: {}",
                        u.username,
                        or_dash(scopes.to_string())
                    );
                }
            }
            Ok(())
        }
    }
}

/// True when an authorization for `grantee` counts for the user: their own, or a group's they
/// belong to.
fn applies_to(grantee: &Grantee, user: &User) -> bool {
    match grantee {
        Grantee::User(u) => *u == user.username,
        Grantee::Group(g) => user.groups.contains(g),
    }
}

pub async fn policy(command: PolicyCommand) -> anyhow::Result<()> {
    let PolicyCommand::Explain {
        config,
        client,
        api,
        user,
        scope,
    } = command;
    let requested = scope
        .as_deref()
        .map(|raw| parse_scopes("--scope", raw))
        .transpose()?;
    if requested.as_ref().is_some_and(ScopeSet::is_empty) {
        return Err(usage(
            "--scope: give at least one scope, or leave --scope out to ask for all",
        ));
    }
    let (_, store) = open(&config).await?;
    let registry = store.load_registry().await?;
    let client = client_of(&registry, &client)?.clone();
    let api = api_of(&registry, &api)?.clone();
    let user = user_of(&store, &user).await?;
    let authorized = if user.disabled {
        None
    } else {
        store
            .authorized_scopes(&user.username, &user.groups, &api.id)
            .await?
    };
    let through: Vec<Authorization> = store
        .list_authorizations(Some(&api.id))
        .await?
        .into_iter()
        .filter(|a| applies_to(&a.grantee, &user))
        .collect();
    let facts = Facts {
        registry: &registry,
        client: &client,
        api: &api,
        user: &user,
        authorized,
        through,
        requested,
        now: SystemClock.now(),
    };
    print!("{}", facts.report());
    Ok(())
}

/// Everything `policy explain` reads, and the report it makes of it.
struct Facts<'a> {
    registry: &'a Registry,
    client: &'a Client,
    api: &'a Api,
    user: &'a User,
    /// What the store answers the token endpoint: the union of the user's and their groups'
    /// scopes, `None` when no authorization names them (or the user is disabled, so that it is
    /// never read).
    authorized: Option<ScopeSet>,
    /// The authorizations behind `authorized`, each with its grantee.
    through: Vec<Authorization>,
    requested: Option<ScopeSet>,
    now: i64,
}

impl Facts<'_> {
    /// The token endpoint's answer, from the same checks in the same order: client
    /// authentication and grant type (the endpoint), then the flow's `target`, `trust` and
    /// `decide` on a stand-in for the user's token.
    fn verdict(&self) -> Result<ScopeSet, OAuthError> {
        if self.client.disabled {
            return Err(OAuthError::invalid_client(
                "the client is disabled: it cannot authenticate",
            ));
        }
        if !self.client.allows(GrantType::TokenExchange) {
            return Err(OAuthError::unauthorized_client(format!(
                "this client may not use the {} grant",
                GrantType::TokenExchange.as_str()
            )));
        }
        let api = exchange::target(self.registry, std::slice::from_ref(&self.api.id), &[])?;
        let link = exchange::trust(self.registry, self.client, &api)?;
        // The user's token as the client would hold it: issued to the client, for the user.
        let subject = AccessToken {
            jti: "policy-explain".into(),
            grant_id: "policy-explain".into(),
            client_id: self.client.id.clone(),
            subject: self.user.subject.clone(),
            api: String::new(),
            scope: ScopeSet::new(),
            issued_at: self.now,
            expires_at: self.now.saturating_add(self.client.lifetimes.access_token),
            format: TokenFormat::Jwt,
            derivation: Derivation::default(),
        };
        let access = UserAccess {
            user: (!self.user.disabled).then(|| Arc::new(self.user.clone())),
            authorized: self.authorized.clone(),
        };
        let issued = exchange::decide(
            Exchange {
                client: self.client,
                api: &api,
                link: &link,
                subject: &subject,
                act: None,
                requested: self.requested.as_ref(),
                requested_token_type: None,
                now: self.now,
                jti: "policy-explain".into(),
                grant_id: "policy-explain".into(),
            },
            &access,
        )?;
        Ok(issued.token.scope)
    }

    fn report(&self) -> String {
        let mut out = String::new();
        let (c, a, u) = (self.client, self.api, self.user);
        let link = self.registry.link(&c.id, &a.id);
        let _ = writeln!(
            out,
            "token exchange: client {} → API {} for user {}\n",
            c.id, a.id, u.username
        );
        let _ = writeln!(
            out,
            "client      {}: {}; {} the token-exchange grant",
            c.id,
            if c.disabled { "disabled" } else { "enabled" },
            if c.allows(GrantType::TokenExchange) {
                "may use"
            } else {
                "may not use"
            }
        );
        let _ = writeln!(
            out,
            "api         {}: {}",
            a.id,
            if a.disabled { "disabled" } else { "enabled" }
        );
        match link {
            Some(l) => {
                let _ = writeln!(
                    out,
                    "link        linked; exchange trust: {}; delegation: {}; may_act: {}; scopes: {}",
                    yes_no(l.exchange),
                    yes_no(l.delegation),
                    l.may_act.as_deref().unwrap_or("-"),
                    or_dash(l.scopes.to_string())
                );
            }
            None => {
                let _ = writeln!(out, "link        not linked");
            }
        }
        let _ = writeln!(
            out,
            "user        {}: {}; groups: {}",
            u.username,
            if u.disabled { "disabled" } else { "enabled" },
            or_dash(u.groups.join(" "))
        );
        if self.through.is_empty() {
            let _ = writeln!(
                out,
                "authorized  no: no authorization names the user or a group of theirs"
            );
        } else {
            let via: Vec<String> = self
                .through
                .iter()
                .map(|x| {
                    format!(
                        "{} ({})",
                        grantee_text(&x.grantee),
                        or_dash(x.scopes.to_string())
                    )
                })
                .collect();
            let _ = writeln!(out, "authorized  yes, through {}", via.join(", "));
        }
        let _ = writeln!(
            out,
            "requested   {}",
            match &self.requested {
                Some(r) => r.to_string(),
                None => "(no scope parameter: all that the other sources allow)".into(),
            }
        );

        // Every scope any source names: the API's, the link's, the user's and the request's.
        // No link allows nothing; no authorization authorizes nothing.
        let offered = a.offered();
        let none = ScopeSet::new();
        let held = self
            .through
            .iter()
            .fold(ScopeSet::new(), |acc, x| acc.union(&x.scopes));
        let src = ScopeSources {
            requested: self.requested.as_ref(),
            offered: &offered,
            allowed: link.map_or(&none, |l| &l.scopes),
            authorized: Some(&held),
            consented: None,
        };
        let rows: Vec<Vec<String>> = scope::explain(src)
            .into_iter()
            .map(|v| {
                let why = if v.granted() {
                    "granted".to_owned()
                } else {
                    let by: Vec<String> = v
                        .refused_by
                        .iter()
                        .map(|s| format!("{} ({})", s.as_str(), s.owner()))
                        .collect();
                    format!("refused by {}", by.join(", "))
                };
                vec![v.scope, why]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(&["scope", "verdict"], &rows));
        if rows.is_empty() {
            out.push_str("(no scope: the API offers none and nothing asks for one)\n");
        }
        let would = scope::granted_scopes(src);
        let would = if would.is_empty() {
            "nothing".to_owned()
        } else {
            would.to_string()
        };
        let _ = writeln!(out, "\nwould grant {would}");
        let _ = writeln!(
            out,
            "verdict     {}",
            match self.verdict() {
                Ok(scope) => format!("granted: {scope}"),
                Err(e) => format!("{}: {}", e.code.as_str(), e.description),
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration file's rules for `[[links]]` refuse every name the CLI reserves.
    #[test]
    fn the_configuration_file_refuses_every_reserved_attribute_too() {
        let dir = std::env::temp_dir();
        for name in config::RESERVED_MEMBERS
            .iter()
            .chain(config::RESERVED_CLAIMS)
        {
            let text = format!(
                r#"
issuer = "https://as.example"
[[clients]]
id = "c"
secret = "client-secret-0123456789abcdef-0123456789"
grant_types = ["client_credentials"]
[[apis]]
id = "a"
scopes = {{ "r" = "Read" }}
[[links]]
client = "c"
api = "a"
scopes = ["r"]
attributes = {{ "{name}" = 1 }}
"#
            );
            let e = Config::from_toml(&text, &dir).unwrap_err().to_string();
            assert!(e.contains("links[0].attributes"), "{name}: {e}");
        }
    }

    #[test]
    fn attributes_are_json_or_strings() {
        let args: Vec<String> = [
            "tier=2",
            "customer=acme",
            "vip=true",
            "q=\"2\"",
            "tags=[\"a\"]",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let (map, problems) = parse_attributes(&args);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            Value::Object(map.into_iter().collect()),
            serde_json::json!({"tier": 2, "customer": "acme", "vip": true, "q": "2", "tags": ["a"]})
        );
        let bad: Vec<String> = ["nokey", "=v", "aud=x", "k=1", "k=2"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let (_, problems) = parse_attributes(&bad);
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn scopes_are_checked_tokens() {
        assert_eq!(
            parse_scopes("--scopes", " a  b ").unwrap(),
            ScopeSet::from_tokens(["a", "b"])
        );
        assert!(parse_scopes("--scopes", "").unwrap().is_empty());
        let e = parse_scopes("--scopes", "a \"b\"").unwrap_err();
        assert!(e.downcast_ref::<Usage>().is_some());
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["a", "bb", "c"],
            &[vec!["xxx".into(), "y".into(), "z z".into()]],
        );
        assert_eq!(t, "a    bb  c\nxxx  y   z z\n");
    }
}
