//! `wissel`: the OAuth 2.0 / OpenID Connect authorization server.

mod admin;
mod medmij_cli;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use wissel::config::{self, Config, LogFormat};
use wissel::{demo, master_key, provision, server};
use wissel_core::model::{Client, ClientAuthMethod, Credentials, GrantType, SigningAlg, User};
use wissel_core::ports::{Clock, GrantStore, KeyStore, RegistryStore, SystemClock};
use wissel_crypto::keys::MasterKey;
use wissel_crypto::secret::{digest, generate_id, generate_secret};

#[derive(Parser)]
#[command(
    name = "wissel",
    version,
    about = "An OAuth 2.0 / OpenID Connect authorization server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run a demo server on an embedded SQLite file and print a walk-through.
    Demo {
        /// Where the demo keeps its database, master key and configuration.
        #[arg(long, default_value = "wissel-data")]
        data_dir: PathBuf,
        /// Address to listen on (the issuer is http://ADDRESS).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Validate a configuration file and exit.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Apply the clients, APIs, links, users and authorizations a configuration file declares.
    Apply {
        /// The configuration file.
        file: PathBuf,
    },
    /// Run the storage migrations and exit.
    Migrate {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage clients.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage users (users declared in the configuration file are re-applied at every start:
    /// change those in the file).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage links: what a client may do with an API.
    Link {
        #[command(subcommand)]
        command: admin::LinkCommand,
    },
    /// Manage authorizations: the scopes users and groups hold for APIs.
    Authz {
        #[command(subcommand)]
        command: admin::AuthzCommand,
    },
    /// Explain policy decisions.
    Policy {
        #[command(subcommand)]
        command: admin::PolicyCommand,
    },
    /// The MedMij profile: the central lists, the PGO side, and the conformance check.
    Medmij {
        #[command(subcommand)]
        command: medmij_cli::MedmijCommand,
    },
}

/// A conformance check that found a failing rule (its table says which).
#[derive(Debug)]
struct CheckFailed;

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the conformance check found failing rules")
    }
}

impl std::error::Error for CheckFailed {}

#[derive(Subcommand)]
enum KeysCommand {
    /// List the signing keys and their states.
    List {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Rotate now: the next key starts signing, the active key is retired, a new next key is
    /// published.
    Rotate {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print a new random master key (base64 of 32 bytes).
    MasterKey,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Create a client; a confidential one gets a generated secret, printed once.
    Create {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The client id.
        #[arg(long)]
        id: String,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
        /// client_secret_basic, client_secret_post, or none (a public client: no secret).
        #[arg(long, default_value = "client_secret_basic")]
        auth_method: String,
        /// A grant it may use: client_credentials, authorization_code or refresh_token
        /// (repeatable).
        #[arg(
            long = "grant-type",
            value_name = "GRANT",
            default_value = "client_credentials"
        )]
        grant_types: Vec<String>,
        /// A redirect URI, for authorization_code (repeatable).
        #[arg(long = "redirect-uri", value_name = "URL")]
        redirect_uris: Vec<String>,
        /// Where logout may send the browser back to (repeatable).
        #[arg(long = "post-logout-redirect-uri", value_name = "URL")]
        post_logout_redirect_uris: Vec<String>,
    },
    /// Print a new secret and its SHA-256 (for `secret_sha256` in a configuration file).
    Secret,
}

/// Where a new password comes from: never the command line, where other users see it.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct PasswordSource {
    /// Read the password from this file (one trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Read the password from standard input (one trailing newline is ignored).
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The login name.
        username: String,
        #[command(flatten)]
        password: PasswordSource,
        /// An OpenID Connect claim (repeatable). `true`, `false` and JSON objects or arrays
        /// are taken as JSON; anything else is a string.
        #[arg(long = "claim", value_name = "KEY=VALUE")]
        claims: Vec<String>,
        /// A group (repeatable).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// Set a user's password.
    Passwd {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The login name.
        username: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Disable a user: they can no longer log in.
    Disable {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The login name.
        username: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The login name.
        username: String,
    },
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = std::env::var("WISSEL_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .or_else(|| tracing_subscriber::EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn serve_until_signal(config: &Config, before: impl FnOnce(&str)) -> anyhow::Result<()> {
    let master = master_key(config.master_key_file.as_deref())?;
    let node = server::start(config, master, Arc::new(SystemClock)).await?;
    before(&config.issuer);
    let stop = node.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    node.wait().await;
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Reads a new password; its value never appears in an error or on the terminal.
fn read_password(source: &PasswordSource) -> anyhow::Result<String> {
    let text = match &source.password_file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading --password-file {}", f.display()))?,
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from standard input")?;
            s
        }
    };
    let password = text
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&text);
    if password.chars().count() < config::MIN_PASSWORD_LEN {
        anyhow::bail!(
            "the password must be at least {} characters",
            config::MIN_PASSWORD_LEN
        );
    }
    Ok(password.to_owned())
}

/// Argon2id, off the async runtime (it takes tens of milliseconds and ~19 MiB).
async fn hash(password: String) -> anyhow::Result<String> {
    Ok(
        tokio::task::spawn_blocking(move || wissel_crypto::password::hash_password(&password))
            .await
            .context("hashing the password")??,
    )
}

/// `--claim key=value`: booleans and JSON objects or arrays keep their type (`email_verified`,
/// `address`); everything else, numbers included, is a string (a phone number stays one).
fn parse_claims(args: &[String]) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut claims = BTreeMap::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            anyhow::bail!("--claim {arg}: expected KEY=VALUE");
        };
        if key.is_empty() {
            anyhow::bail!("--claim {arg}: the key is empty");
        }
        let value = match value {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            v if v.starts_with('{') || v.starts_with('[') => {
                serde_json::from_str(v).with_context(|| format!("--claim {key}: not valid JSON"))?
            }
            v => serde_json::Value::String(v.to_owned()),
        };
        if claims.insert(key.to_owned(), value).is_some() {
            anyhow::bail!("--claim {key} is given twice");
        }
    }
    Ok(claims)
}

/// The user by username, or an error that says there is none.
async fn existing_user(
    store: &dyn wissel_core::ports::Store,
    username: &str,
) -> anyhow::Result<User> {
    store
        .find_user(username)
        .await?
        .with_context(|| format!("there is no user {username:?}"))
}

async fn user_command(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            config,
            username,
            password,
            claims,
            groups,
        } => {
            if !config::is_valid_id(&username) {
                anyhow::bail!("a username is 1–128 printable ASCII characters");
            }
            let claims = parse_claims(&claims)?;
            let mut group_list: Vec<String> = Vec::new();
            for g in groups {
                if g.is_empty() {
                    anyhow::bail!("--group: a group name cannot be empty");
                }
                if !group_list.contains(&g) {
                    group_list.push(g);
                }
            }
            let password = read_password(&password)?;
            let c = load(&config)?;
            let store = server::open_store(&c).await?;
            if store.find_user(&username).await?.is_some() {
                anyhow::bail!("a user {username:?} already exists");
            }
            let subject = generate_id();
            if subject.is_empty() {
                anyhow::bail!("the system random number generator failed");
            }
            let user = User {
                subject,
                username: username.clone(),
                password_hash: hash(password).await?,
                claims,
                groups: group_list,
                disabled: false,
            };
            if !store.create_user(&user, SystemClock.now()).await? {
                anyhow::bail!("a user {username:?} already exists");
            }
            println!("user {username} created (subject {})", user.subject);
            Ok(())
        }
        UserCommand::Passwd {
            config,
            username,
            password,
        } => {
            let password = read_password(&password)?;
            let c = load(&config)?;
            let store = server::open_store(&c).await?;
            let mut user = existing_user(store.as_ref(), &username).await?;
            user.password_hash = hash(password).await?;
            if !store.update_user(&user, SystemClock.now()).await? {
                anyhow::bail!("there is no user {username:?}");
            }
            println!("password of {username} changed");
            Ok(())
        }
        UserCommand::Disable { config, username } => set_disabled(&config, &username, true).await,
        UserCommand::Enable { config, username } => set_disabled(&config, &username, false).await,
    }
}

async fn set_disabled(config: &Path, username: &str, disabled: bool) -> anyhow::Result<()> {
    let c = load(config)?;
    let store = server::open_store(&c).await?;
    let mut user = existing_user(store.as_ref(), username).await?;
    let word = if disabled { "disabled" } else { "enabled" };
    if user.disabled == disabled {
        println!("user {username} is already {word}");
        return Ok(());
    }
    user.disabled = disabled;
    let now = SystemClock.now();
    if !store.update_user(&user, now).await? {
        anyhow::bail!("there is no user {username:?}");
    }
    if disabled {
        // Their sessions end and every grant is revoked: refresh tokens stop at once, access
        // tokens on every node within the sync interval.
        for s in store.sessions_of(&user.subject, now).await? {
            store.end_session_by_sid(&user.subject, &s.sid).await?;
        }
        let grants = store.live_grants(&user.subject, None, None, now).await?;
        for g in &grants {
            let revocation = wissel_core::model::Revocation {
                kind: wissel_core::model::RevocationKind::Grant,
                id: g.id.clone(),
                // Access tokens live at most a day (config bound).
                expires_at: now.saturating_add(86_400),
            };
            store.revoke_grant(&revocation, now).await?;
        }
        println!(
            "user {username} {word}; sessions ended, {} grant(s) revoked",
            grants.len()
        );
    } else {
        println!("user {username} {word}");
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let config = load(&config)?;
            init_logging(config.log_format, &config.log_level);
            serve_until_signal(&config, |_| {}).await
        }
        Command::Demo { data_dir, listen } => {
            let file = demo::prepare(&data_dir, &listen)?;
            let mut config = load(&file)?;
            config.listen = listen
                .parse()
                .with_context(|| format!("--listen {listen}"))?;
            config.issuer = format!("http://{listen}");
            config.login.secure_cookies = wissel::config::cookies_must_be_secure(&config.issuer);
            config.login.demo_rp = true;
            // The built-in relying party lives at this address, whatever the file says.
            for c in &mut config.declared.clients {
                if c.id == "demo-front" {
                    c.redirect_uris =
                        vec![format!("{}{}", config.issuer, demo::FRONT_CALLBACK_PATH)];
                }
                if c.id == wissel_http::routes::DEMO_CLIENT_ID {
                    c.redirect_uris = vec![format!(
                        "{}{}",
                        config.issuer,
                        wissel_http::routes::DEMO_CALLBACK_PATH
                    )];
                    c.post_logout_redirect_uris = vec![format!(
                        "{}{}",
                        config.issuer,
                        wissel_http::routes::DEMO_PATH
                    )];
                }
            }
            init_logging(config.log_format, "warn,wissel=info");
            let text = std::fs::read_to_string(&file)?;
            let secrets = demo::secrets(&text)?;
            // The example API (steps 3–6 of token exchange) introspects as orders-api.
            config.demo_api_secret = Some(secrets.orders_api.clone());
            serve_until_signal(&config, |issuer| {
                // Not println!: a closed stdout (`wissel demo | head`) must not stop the server.
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", demo::walkthrough(issuer, &secrets, &file));
                let _ = out.flush();
            })
            .await
        }
        Command::CheckConfig { file } => {
            let c = load(&file)?;
            println!(
                "{}: valid ({} clients, {} APIs, {} links, {} users, {} authorizations)",
                file.display(),
                c.declared.clients.len(),
                c.declared.apis.len(),
                c.declared.links.len(),
                c.declared.users.len(),
                c.declared.authorizations.len()
            );
            Ok(())
        }
        Command::Apply { file } => {
            let c = load(&file)?;
            let store = server::open_store(&c).await?;
            let r = provision::apply(store.as_ref(), &c.declared, SystemClock.now()).await?;
            println!(
                "applied: {} created, {} updated, {} unchanged",
                r.created, r.updated, r.unchanged
            );
            Ok(())
        }
        Command::Migrate { config } => {
            let c = load(&config)?;
            server::open_store(&c).await?;
            println!("storage is at the latest schema");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::MasterKey,
        } => {
            println!("{}", MasterKey::generate_base64()?);
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::List { config },
        } => {
            let c = load(&config)?;
            let store = server::open_store(&c).await?;
            println!(
                "{:<24} {:<6} {:<8} {:>12} {:>12} {:>14}",
                "kid", "alg", "state", "created", "activated", "published until"
            );
            for k in store.list_keys().await? {
                let t = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "{:<24} {:<6} {:<8} {:>12} {:>12} {:>14}",
                    k.kid,
                    k.alg.as_str(),
                    k.state.as_str(),
                    k.created_at,
                    t(k.activated_at),
                    t(k.publish_until)
                );
            }
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate { config },
        } => {
            let c = load(&config)?;
            let master = master_key(c.master_key_file.as_deref())?;
            let store = server::open_store(&c).await?;
            let done = wissel_http::keys::rotate(
                store.as_ref(),
                &master,
                c.signing_alg,
                &c.id_token_algs,
                &c.rotation,
                SystemClock.now(),
                true,
            )
            .await?;
            println!("done: {done:?}");
            println!("running nodes pick the change up within server.sync_interval_ms");
            Ok(())
        }
        Command::Client {
            command: ClientCommand::Secret,
        } => {
            let s = generate_secret();
            println!(
                "secret        = \"{s}\"\nsecret_sha256 = \"{}\"",
                digest(s.as_bytes()).to_hex()
            );
            Ok(())
        }
        Command::Client {
            command:
                ClientCommand::Create {
                    config,
                    id,
                    name,
                    auth_method,
                    grant_types,
                    redirect_uris,
                    post_logout_redirect_uris,
                },
        } => {
            if !config::is_valid_id(&id) {
                anyhow::bail!("--id: 1–128 printable ASCII characters");
            }
            let c = load(&config)?;
            let method = match auth_method.as_str() {
                "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
                "client_secret_post" => ClientAuthMethod::ClientSecretPost,
                "none" => ClientAuthMethod::None,
                other => anyhow::bail!(
                    "--auth-method {other}: client_secret_basic, client_secret_post or none"
                ),
            };
            let mut grants = Vec::new();
            for g in &grant_types {
                let Some(grant) = GrantType::parse(g) else {
                    anyhow::bail!(
                        "--grant-type {g}: one of {}",
                        config::GRANT_TYPE_NAMES.join(", ")
                    );
                };
                if !grants.contains(&grant) {
                    grants.push(grant);
                }
            }
            let secret = (method != ClientAuthMethod::None).then(generate_secret);
            let mut client = Client::new(
                id.clone(),
                name.unwrap_or_else(|| id.clone()),
                Credentials {
                    method,
                    secret_sha256: secret.as_ref().map(|s| digest(s.as_bytes())),
                    jwks: None,
                    jwks_uri: None,
                    assertion_alg: SigningAlg::ES256,
                    assertion_audience: Default::default(),
                    tls_client_auth_san_dns: None,
                },
                grants,
            );
            client.redirect_uris = redirect_uris;
            client.post_logout_redirect_uris = post_logout_redirect_uris;
            client.id_token_alg = c.signing_alg;
            client.lifetimes = c.client_lifetimes;
            // The same rules as for a client in the configuration file.
            let problems = config::client_problems(&client);
            if !problems.is_empty() {
                let lines: Vec<_> = problems
                    .iter()
                    .map(|(key, msg)| format!("  - {key}: {msg}"))
                    .collect();
                anyhow::bail!("this client cannot be created:\n{}", lines.join("\n"));
            }
            let store = server::open_store(&c).await?;
            if !store.create_client(&client, SystemClock.now()).await? {
                anyhow::bail!("a client or API with id {id:?} already exists");
            }
            match secret {
                Some(secret) => println!(
                    "client {id} created; its secret (shown once, stored only as a SHA-256 digest):\n{secret}"
                ),
                None => println!("public client {id} created (it has no secret)"),
            }
            println!(
                "link it to an API (`wissel link set`, or [[links]] in the configuration file) before it can obtain tokens for it"
            );
            Ok(())
        }
        Command::User { command } => user_command(command).await,
        Command::Link { command } => admin::link(command).await,
        Command::Authz { command } => admin::authz(command).await,
        Command::Policy { command } => admin::policy(command).await,
        Command::Medmij { command } => {
            if medmij_cli::run(command).await? {
                Ok(())
            } else {
                Err(anyhow::Error::new(CheckFailed))
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wissel: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wissel: {e:#}");
            if e.downcast_ref::<admin::Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
