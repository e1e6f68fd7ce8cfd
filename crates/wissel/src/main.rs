//! `wissel`: the OAuth 2.0 / OpenID Connect authorization server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wissel::config::{Config, LogFormat};
use wissel::{demo, master_key, provision, server};
use wissel_core::model::{Client, ClientAuthMethod, Credentials, GrantType, Profile, SigningAlg};
use wissel_core::ports::{Clock, KeyStore, RegistryStore, SystemClock};
use wissel_crypto::keys::MasterKey;
use wissel_crypto::secret::{digest, generate_secret};

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
}

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
    /// Create a confidential client with a generated secret, printed once.
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
        /// client_secret_basic or client_secret_post.
        #[arg(long, default_value = "client_secret_basic")]
        auth_method: String,
    },
    /// Print a new secret and its SHA-256 (for `secret_sha256` in a configuration file).
    Secret,
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
            init_logging(config.log_format, "warn,wissel=info");
            let text = std::fs::read_to_string(&file)?;
            let secrets = demo::secrets(&text)?;
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
                },
        } => {
            let c = load(&config)?;
            let method = match auth_method.as_str() {
                "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
                "client_secret_post" => ClientAuthMethod::ClientSecretPost,
                other => anyhow::bail!(
                    "--auth-method {other}: client_secret_basic or client_secret_post"
                ),
            };
            let secret = generate_secret();
            let client = Client {
                name: name.unwrap_or_else(|| id.clone()),
                id: id.clone(),
                profile: Profile::Standard,
                credentials: Credentials {
                    method,
                    secret_sha256: Some(digest(secret.as_bytes())),
                    jwks: None,
                    jwks_uri: None,
                    assertion_alg: SigningAlg::ES256,
                },
                redirect_uris: vec![],
                grant_types: vec![GrantType::ClientCredentials],
                disabled: false,
            };
            let store = server::open_store(&c).await?;
            if !store.create_client(&client, SystemClock.now()).await? {
                anyhow::bail!("a client or API with id {id:?} already exists");
            }
            println!(
                "client {id} created; its secret (shown once, stored only as a SHA-256 digest):\n{secret}"
            );
            println!(
                "link it to an API in the configuration file ([[links]]) before it can obtain tokens"
            );
            Ok(())
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
            ExitCode::FAILURE
        }
    }
}
