//! `wissel medmij`: the central lists in the store (`lists import`, `lists show`), the PGO side
//! of the token interface (`pgo authorize`, `pgo redeem`, `pgo refresh`), and the conformance
//! check of any MedMij authorization server (`check`).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use wissel::config::Config;
use wissel::server;
use wissel_core::ports::{Clock, MedmijStore, SystemClock};
use wissel_medmij::ListKind;
use wissel_medmij::check::{self, CodeSource};
use wissel_medmij::client::{PendingAuthorization, PgoClient, PgoConfig};

#[derive(Subcommand)]
pub enum MedmijCommand {
    /// The central lists (OCL, Whitelist, GNL, ZAL) in the store.
    Lists {
        #[command(subcommand)]
        command: ListsCommand,
    },
    /// The PGO side: authorization requests, code redemption and refreshes over mutual TLS.
    Pgo {
        #[command(subcommand)]
        command: PgoCommand,
    },
    /// Check a MedMij authorization server against the rules of the token interface that can be
    /// tested from outside; prints a pass/fail table and exits 1 when a rule fails.
    Check {
        #[command(flatten)]
        server: AsArgs,
        #[command(flatten)]
        identity: Identity,
        /// The scope to ask for: the aanbieder's name (without @medmij).
        #[arg(long)]
        scope: String,
        /// A program that answers an authorization request: run with the request's URL and
        /// `lasting` or `once`, it prints the URL the browser was sent back to. Without it,
        /// each request is printed and the redirect is read from standard input.
        #[arg(long, value_name = "PROGRAM")]
        authorize_with: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ListsCommand {
    /// Validate a list and store it as the last valid copy (refused when its Volgnummer is
    /// lower than the stored one). Running nodes take it at their next refresh.
    Import {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// ocl, whitelist, gnl or zal.
        #[arg(long)]
        kind: String,
        /// The list's XML file.
        file: PathBuf,
    },
    /// Show the stored lists: Volgnummer, Tijdstempel, when accepted, entries.
    Show {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// The authorization server and the PGO node.
#[derive(Args)]
pub struct AsArgs {
    /// The authorization server's base URL (its endpoints are `/authorize` and `/token` under
    /// it unless given).
    #[arg(long = "as", value_name = "URL")]
    base: url::Url,
    /// The authorization endpoint, when not `<as>/authorize`.
    #[arg(long, value_name = "URL")]
    authorization_endpoint: Option<url::Url>,
    /// The token endpoint, when not `<as>/token`.
    #[arg(long, value_name = "URL")]
    token_endpoint: Option<url::Url>,
    /// The PGO node's hostname: its client_id.
    #[arg(long)]
    client_id: String,
    /// Its redirect URI.
    #[arg(long)]
    redirect_uri: String,
}

/// The PGO node's certificate, and the roots it trusts.
#[derive(Args)]
pub struct Identity {
    /// The node's certificate chain (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// Roots to trust instead of the system's (PEM).
    #[arg(long)]
    ca: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum PgoCommand {
    /// Print an authorization request's URL (fresh state, MedMij-Request-ID and
    /// X-Correlation-ID) and keep what its answer must match in the state file.
    Authorize {
        #[command(flatten)]
        server: AsArgs,
        /// The scope: the aanbieder's name, or aanbieder~gegevensdienst.
        #[arg(long)]
        scope: String,
        /// Where the pending request is kept until `pgo redeem`.
        #[arg(long)]
        state_file: PathBuf,
    },
    /// Redeem the code of the redirect that answers the pending request, once: the state file
    /// is spent whatever the outcome. Prints the token response.
    Redeem {
        /// The state file of `pgo authorize`.
        #[arg(long)]
        state_file: PathBuf,
        /// The URL the browser was sent back to.
        #[arg(long)]
        redirect: String,
        #[command(flatten)]
        identity: Identity,
    },
    /// Refresh (new X-Correlation-ID, no redirect_uri). Prints the token response.
    Refresh {
        #[command(flatten)]
        server: AsArgs,
        #[command(flatten)]
        identity: Identity,
        /// The refresh token.
        #[arg(long)]
        refresh_token: String,
    },
}

/// What `pgo authorize` keeps for `pgo redeem`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StateFile {
    pending: PendingAuthorization,
    client_id: String,
    redirect_uri: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

fn endpoints(a: &AsArgs) -> anyhow::Result<(url::Url, url::Url)> {
    let base = a.base.as_str().trim_end_matches('/');
    let authz = match &a.authorization_endpoint {
        Some(u) => u.clone(),
        None => url::Url::parse(&format!("{base}/authorize"))?,
    };
    let token = match &a.token_endpoint {
        Some(u) => u.clone(),
        None => url::Url::parse(&format!("{base}/token"))?,
    };
    Ok((authz, token))
}

fn identity_pem(i: &Identity) -> anyhow::Result<(Vec<u8>, Option<Vec<u8>>)> {
    let mut pem =
        std::fs::read(&i.cert).with_context(|| format!("reading {}", i.cert.display()))?;
    pem.push(b'\n');
    pem.extend(std::fs::read(&i.key).with_context(|| format!("reading {}", i.key.display()))?);
    let roots = match &i.ca {
        Some(ca) => Some(std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?),
        None => None,
    };
    Ok((pem, roots))
}

fn pgo(a: &AsArgs, identity: Option<&Identity>) -> anyhow::Result<PgoClient> {
    let (authorization_endpoint, token_endpoint) = endpoints(a)?;
    let (identity_pem, roots_pem) = match identity {
        Some(i) => {
            let (pem, roots) = identity_pem(i)?;
            (Some(pem), roots)
        }
        None => (None, None),
    };
    Ok(PgoClient::new(PgoConfig {
        client_id: a.client_id.clone(),
        redirect_uri: a.redirect_uri.clone(),
        authorization_endpoint,
        token_endpoint,
        identity_pem,
        roots_pem,
    })?)
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Answers the check's authorization requests with a program, or with the person at the
/// terminal.
struct Answerer {
    program: Option<PathBuf>,
}

#[async_trait::async_trait]
impl CodeSource for Answerer {
    async fn redirect_for(&self, url: &str, lasting: bool) -> Result<String, String> {
        let duration = if lasting { "lasting" } else { "once" };
        match &self.program {
            Some(p) => {
                let out = tokio::process::Command::new(p)
                    .arg(url)
                    .arg(duration)
                    .output()
                    .await
                    .map_err(|e| format!("running {}: {e}", p.display()))?;
                if !out.status.success() {
                    return Err(format!(
                        "{} failed: {}",
                        p.display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(|l| l.trim().to_owned())
                    .ok_or_else(|| format!("{} printed no URL", p.display()))
            }
            None => {
                let url = url.to_owned();
                tokio::task::spawn_blocking(move || {
                    let mut err = std::io::stderr();
                    let _ = writeln!(
                        err,
                        "Open this URL, log in and give a {} consent, then paste the URL the browser was sent to:\n{url}",
                        if lasting { "long-lasting" } else { "one-time" }
                    );
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .map_err(|e| e.to_string())?;
                    Ok(line.trim().to_owned())
                })
                .await
                .map_err(|e| e.to_string())?
            }
        }
    }
}

async fn store_of(config: &Path) -> anyhow::Result<(Config, Arc<wissel_store::SqlStore>)> {
    let c = Config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = server::open_store(&c).await?;
    Ok((c, store))
}

/// Runs a `wissel medmij` command; `Ok(false)` when a check failed.
pub async fn run(cmd: MedmijCommand) -> anyhow::Result<bool> {
    match cmd {
        MedmijCommand::Lists {
            command: ListsCommand::Import { config, kind, file },
        } => {
            let Some(kind) = ListKind::parse(&kind) else {
                anyhow::bail!("--kind must be ocl, whitelist, gnl or zal");
            };
            let (c, store) = store_of(&config).await?;
            let settings = c
                .medmij
                .as_ref()
                .map(|m| m.settings.lists.clone())
                .unwrap_or_default();
            let doc =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let list = wissel_http::medmij::lists::accept(
                store.as_ref(),
                &settings,
                kind,
                &doc,
                SystemClock.now(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}: refused: {e}", file.display()))?;
            println!(
                "{}: Volgnummer {}, Tijdstempel {}, {} entries: stored; running nodes take it at their next list refresh",
                kind.as_str(),
                list.header().volgnummer,
                list.header().tijdstempel,
                list.len()
            );
            Ok(true)
        }
        MedmijCommand::Lists {
            command: ListsCommand::Show { config },
        } => {
            let (c, store) = store_of(&config).await?;
            let settings = c
                .medmij
                .as_ref()
                .map(|m| m.settings.lists.clone())
                .unwrap_or_default();
            println!(
                "{:<10} {:>10}  {:<27} {:>8}  accepted (Unix time)",
                "list", "Volgnummer", "Tijdstempel", "entries"
            );
            for kind in ListKind::ALL {
                match store.medmij_list(kind.as_str()).await? {
                    Some(l) => {
                        let entries =
                            wissel_http::medmij::lists::parse(&settings, kind, &l.document)
                                .map(|p| p.len().to_string())
                                .unwrap_or_else(|e| format!("invalid: {e}"));
                        println!(
                            "{:<10} {:>10}  {:<27} {:>8}  {}",
                            kind.as_str(),
                            l.volgnummer,
                            l.tijdstempel,
                            entries,
                            l.loaded_at
                        );
                    }
                    None => println!("{:<10} {:>10}", kind.as_str(), "-"),
                }
            }
            Ok(true)
        }
        MedmijCommand::Pgo {
            command:
                PgoCommand::Authorize {
                    server,
                    scope,
                    state_file,
                },
        } => {
            let client = pgo(&server, None)?;
            let pending = client.authorization_request(&scope)?;
            let (authorization_endpoint, token_endpoint) = endpoints(&server)?;
            let state = StateFile {
                pending: pending.clone(),
                client_id: server.client_id.clone(),
                redirect_uri: server.redirect_uri.clone(),
                authorization_endpoint: authorization_endpoint.into(),
                token_endpoint: token_endpoint.into(),
            };
            std::fs::write(&state_file, serde_json::to_vec_pretty(&state)?)
                .with_context(|| format!("writing {}", state_file.display()))?;
            println!("{}", pending.url);
            Ok(true)
        }
        MedmijCommand::Pgo {
            command:
                PgoCommand::Redeem {
                    state_file,
                    redirect,
                    identity,
                },
        } => {
            let text = std::fs::read(&state_file).with_context(|| {
                format!(
                    "{}: no pending authorization (a code is offered once)",
                    state_file.display()
                )
            })?;
            // Spent before anything is sent: the code is offered at most once (core.tknint.203).
            std::fs::remove_file(&state_file)
                .with_context(|| format!("removing {}", state_file.display()))?;
            let state: StateFile =
                serde_json::from_slice(&text).context("the state file is unreadable")?;
            let (identity_pem, roots_pem) = identity_pem(&identity)?;
            let client = PgoClient::new(PgoConfig {
                client_id: state.client_id,
                redirect_uri: state.redirect_uri,
                authorization_endpoint: url::Url::parse(&state.authorization_endpoint)?,
                token_endpoint: url::Url::parse(&state.token_endpoint)?,
                identity_pem: Some(identity_pem),
                roots_pem,
            })?;
            print_json(&client.redeem(state.pending, &redirect).await?)?;
            Ok(true)
        }
        MedmijCommand::Pgo {
            command:
                PgoCommand::Refresh {
                    server,
                    identity,
                    refresh_token,
                },
        } => {
            let client = pgo(&server, Some(&identity))?;
            print_json(&client.refresh(&refresh_token).await?)?;
            Ok(true)
        }
        MedmijCommand::Check {
            server,
            identity,
            scope,
            authorize_with,
        } => {
            let client = pgo(&server, Some(&identity))?;
            let (_, roots) = identity_pem(&identity)?;
            let mut plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
            if let Some(pem) = roots {
                plain = plain.tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem)?);
            }
            let results = check::run(
                &client,
                &scope,
                &Answerer {
                    program: authorize_with,
                },
                &plain.build()?,
            )
            .await;
            let (table, ok) = check::table(&results);
            print!("{table}");
            Ok(ok)
        }
    }
}
