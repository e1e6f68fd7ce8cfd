//! `kill -9` under load: the real `wissel serve` binary is killed (SIGKILL) while clients are
//! getting opaque tokens, JWTs, codes and refresh tokens, started again on the same database, and
//! every value it answered 200 (or redirected with) must still work. Five rounds on SQLite, five on
//! PostgreSQL when `WISSEL_TEST_POSTGRES_URL` is set.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::code_flow::{Browser, encode, interaction_of, location, query_of};
use super::{
    BACKEND_SECRET, BILLING_SECRET, ORDERS_SECRET, TempDir, WEBAPP_SECRET, config_text, master,
    notice, postgres_database, signer_key, unique,
};

/// Rounds of load and kill per database.
const ROUNDS: usize = 5;
/// How long the load runs before the kill, per round.
const LOAD: Duration = Duration::from_millis(1000);
/// Concurrent clients per kind of value.
const OPAQUE_TASKS: usize = 4;
const JWT_TASKS: usize = 2;
const CODE_TASKS: usize = 2;
/// How many acknowledged values are checked at once after a restart.
const CHECKS_IN_FLIGHT: usize = 16;

const TRUSTED_CB: &str = "https://trusted.example/cb";
const VERIFIER: &str = "a-verifier-that-is-long-enough-for-rfc-7636-0123456789";

/// The kinds of value a client holds after a 200 (or a redirect with a code).
#[derive(Clone, Copy, Debug)]
enum Kind {
    Opaque,
    Jwt,
    Code,
    Refresh,
}

/// What the server acknowledged in one round.
#[derive(Default)]
struct Acknowledged {
    opaque: Vec<String>,
    jwt: Vec<String>,
    /// Authorization codes handed to the client and never presented.
    codes: Vec<String>,
    /// Refresh tokens answered 200 (by a rotation) and never presented.
    refresh: Vec<String>,
    /// Answers other than the expected ones before the kill: each is a finding.
    unexpected: Vec<String>,
}

impl Acknowledged {
    fn add(&mut self, other: Acknowledged) {
        self.opaque.extend(other.opaque);
        self.jwt.extend(other.jwt);
        self.codes.extend(other.codes);
        self.refresh.extend(other.refresh);
        self.unexpected.extend(other.unexpected);
    }
}

/// A `wissel serve` child process; killed (SIGKILL) when dropped.
struct Serving {
    child: Child,
    log: PathBuf,
}

impl Serving {
    fn start(config: &Path, log: &Path) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_wissel"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("WISSEL_MASTER_KEY", master().0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap();
        Self {
            child,
            log: log.to_owned(),
        }
    }

    /// Polls `/healthz` until the node answers; fails with its log when it exits first.
    async fn ready(&mut self, base: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "wissel serve exited ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "wissel serve was not ready within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `kill -9`: the process gets no chance to flush or finish anything.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Client credentials for `audience` until `stop`: every access token answered 200.
async fn tokens_until(base: String, audience: &'static str, stop: Arc<AtomicBool>) -> Acknowledged {
    let http = client();
    let mut ack = Acknowledged::default();
    while !stop.load(Ordering::SeqCst) {
        let r = http
            .post(format!("{base}/token"))
            .basic_auth("backend", Some(BACKEND_SECRET))
            .form(&[("grant_type", "client_credentials"), ("audience", audience)])
            .send()
            .await;
        let Ok(r) = r else { continue };
        let status = r.status();
        let Ok(body) = r.json::<Value>().await else {
            continue;
        };
        match (status, body["access_token"].as_str()) {
            (StatusCode::OK, Some(t)) if audience == "billing-api" => ack.opaque.push(t.to_owned()),
            (StatusCode::OK, Some(t)) => ack.jwt.push(t.to_owned()),
            _ => ack.unexpected.push(format!("token {status}: {body}")),
        }
    }
    ack
}

fn authorize_url(base: &str) -> String {
    let challenge = wissel_crypto::pkce::s256(VERIFIER);
    let query = encode(&[
        ("response_type", "code"),
        ("client_id", "trusted-app"),
        ("redirect_uri", TRUSTED_CB),
        ("scope", "openid profile"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    format!("{base}/authorize?{query}")
}

/// A code from the authorization endpoint for a logged-in browser; an empty error when the node
/// did not answer (it was killed), else what it answered instead.
async fn code_of(http: &reqwest::Client, base: &str, b: &Browser) -> Result<String, String> {
    let r = http
        .get(authorize_url(base))
        .header("cookie", b.header())
        .send()
        .await
        .map_err(|_| String::new())?;
    let to = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match query_of(&to).get("code") {
        Some(c) if r.status() == StatusCode::SEE_OTHER && to.starts_with(TRUSTED_CB) => {
            Ok(c.clone())
        }
        _ => Err(format!("authorize {}: {to}", r.status())),
    }
}

/// POSTs to the token endpoint as trusted-app: the status and body, or `None` when the node did
/// not answer.
async fn trusted_token(
    http: &reqwest::Client,
    base: &str,
    form: &[(&str, &str)],
) -> Option<(StatusCode, Value)> {
    let r = http
        .post(format!("{base}/token"))
        .basic_auth("trusted-app", Some(WEBAPP_SECRET))
        .form(form)
        .send()
        .await
        .ok()?;
    let status = r.status();
    Some((status, r.json().await.ok()?))
}

fn redeem_form(code: &str) -> [(&str, &str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", TRUSTED_CB),
        ("code_verifier", VERIFIER),
    ]
}

/// Until `stop`: a code that is kept, and a code redeemed at once whose refresh token is rotated;
/// the kept codes and the rotated refresh tokens are what must survive.
async fn codes_until(base: String, b: Browser, stop: Arc<AtomicBool>) -> Acknowledged {
    let http = client();
    let mut ack = Acknowledged::default();
    // An empty error is a request the node did not answer (it was killed).
    let unexpected = |ack: &mut Acknowledged, e: String| {
        if !e.is_empty() && !stop.load(Ordering::SeqCst) {
            ack.unexpected.push(e);
        }
    };
    while !stop.load(Ordering::SeqCst) {
        match code_of(&http, &base, &b).await {
            Ok(c) => ack.codes.push(c),
            Err(e) => {
                unexpected(&mut ack, e);
                continue;
            }
        }
        let code = match code_of(&http, &base, &b).await {
            Ok(c) => c,
            Err(e) => {
                unexpected(&mut ack, e);
                continue;
            }
        };
        let Some((status, t)) = trusted_token(&http, &base, &redeem_form(&code)).await else {
            continue;
        };
        let Some(r1) = t["refresh_token"]
            .as_str()
            .filter(|_| status == StatusCode::OK)
        else {
            unexpected(&mut ack, format!("redeem {status}: {t}"));
            continue;
        };
        let form = [("grant_type", "refresh_token"), ("refresh_token", r1)];
        let Some((status, t)) = trusted_token(&http, &base, &form).await else {
            continue;
        };
        match t["refresh_token"]
            .as_str()
            .filter(|_| status == StatusCode::OK)
        {
            Some(r2) => ack.refresh.push(r2.to_owned()),
            None => unexpected(&mut ack, format!("refresh {status}: {t}")),
        }
    }
    ack
}

/// Whether one acknowledged value still works after the restart: `None` when it does, else what
/// the node answered.
async fn still_works(
    http: reqwest::Client,
    base: String,
    kind: Kind,
    value: String,
) -> Option<String> {
    let no_answer = || Some(format!("{kind:?}: the restarted node did not answer"));
    let (status, body) = match kind {
        Kind::Opaque | Kind::Jwt => {
            let mut rb = http.post(format!("{base}/introspect"));
            rb = if matches!(kind, Kind::Opaque) {
                rb.form(&[
                    ("client_id", "billing-api"),
                    ("client_secret", BILLING_SECRET),
                    ("token", value.as_str()),
                ])
            } else {
                rb.basic_auth("orders-api", Some(ORDERS_SECRET))
                    .form(&[("token", value.as_str())])
            };
            let Ok(r) = rb.send().await else {
                return no_answer();
            };
            let status = r.status();
            let body: Value = r.json().await.unwrap_or_default();
            if status == StatusCode::OK && body["active"] == true {
                return None;
            }
            (status, body)
        }
        Kind::Code => {
            let Some((status, body)) = trusted_token(&http, &base, &redeem_form(&value)).await
            else {
                return no_answer();
            };
            if status == StatusCode::OK && body["access_token"].is_string() {
                return None;
            }
            (status, body)
        }
        Kind::Refresh => {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", value.as_str()),
            ];
            let Some((status, body)) = trusted_token(&http, &base, &form).await else {
                return no_answer();
            };
            if status == StatusCode::OK && body["refresh_token"].is_string() {
                return None;
            }
            (status, body)
        }
    };
    Some(format!("{kind:?} lost: {status} {body}"))
}

/// Checks every value, `CHECKS_IN_FLIGHT` at a time; returns the ones that no longer work.
async fn lost(base: &str, values: Vec<(Kind, String)>) -> Vec<String> {
    let http = client();
    let mut out = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for (kind, v) in values {
        if set.len() >= CHECKS_IN_FLIGHT
            && let Some(r) = set.join_next().await
        {
            out.extend(r.unwrap());
        }
        set.spawn(still_works(http.clone(), base.to_owned(), kind, v));
    }
    while let Some(r) = set.join_next().await {
        out.extend(r.unwrap());
    }
    out
}

/// Logs alice in once; the session (stored, so it outlives every kill) serves every round.
async fn logged_in(base: &str) -> Browser {
    let mut b = Browser::default();
    let r = b.get(&authorize_url(base)).await;
    let login = location(&r);
    let i = interaction_of(&login);
    let page = b.get(&login).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = b.csrf();
    let r = b
        .post(
            &format!("{base}/login"),
            &[
                ("i", &i),
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
        )
        .await;
    let to = location(&r);
    assert!(to.starts_with(TRUSTED_CB), "logged in: {to}");
    b
}

/// Totals over the rounds of one database.
#[derive(Default, Debug)]
struct Tally {
    opaque: usize,
    jwt: usize,
    codes: usize,
    refresh: usize,
    lost: usize,
}

/// `ROUNDS` rounds of load, `kill -9` and restart against `storage`; panics on any value lost.
async fn kill_rounds(what: &str, storage: &str) -> Tally {
    let dir = std::env::temp_dir().join(unique("wissel_crash"));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let config = dir.join("wissel.toml");
    let text = config_text(&base, storage, &signer_key().1).replacen(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
        1,
    );
    std::fs::write(&config, text).unwrap();
    let log = dir.join("wissel.log");

    let mut node = Serving::start(&config, &log);
    node.ready(&base).await;
    let browser = logged_in(&base).await;
    let mut tally = Tally::default();
    let mut all = Acknowledged::default();
    for round in 1..=ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = tokio::task::JoinSet::new();
        for _ in 0..OPAQUE_TASKS {
            load.spawn(tokens_until(base.clone(), "billing-api", stop.clone()));
        }
        for _ in 0..JWT_TASKS {
            load.spawn(tokens_until(base.clone(), "orders-api", stop.clone()));
        }
        for _ in 0..CODE_TASKS {
            let b = Browser {
                cookies: browser.cookies.clone(),
                client: None,
            };
            load.spawn(codes_until(base.clone(), b, stop.clone()));
        }
        tokio::time::sleep(LOAD).await;
        node.kill();
        stop.store(true, Ordering::SeqCst);
        let mut ack = Acknowledged::default();
        while let Some(a) = load.join_next().await {
            ack.add(a.unwrap());
        }
        assert!(
            ack.unexpected.is_empty(),
            "{what} round {round}: answers under load before the kill: {:?}",
            &ack.unexpected[..ack.unexpected.len().min(5)]
        );
        assert!(
            !ack.opaque.is_empty() && !ack.jwt.is_empty(),
            "{what} round {round}: no load reached the node"
        );

        node = Serving::start(&config, &log);
        node.ready(&base).await;
        let mut values: Vec<(Kind, String)> = Vec::new();
        values.extend(ack.opaque.iter().map(|v| (Kind::Opaque, v.clone())));
        values.extend(ack.jwt.iter().map(|v| (Kind::Jwt, v.clone())));
        values.extend(ack.codes.iter().map(|v| (Kind::Code, v.clone())));
        values.extend(ack.refresh.iter().map(|v| (Kind::Refresh, v.clone())));
        let missing = lost(&base, values).await;
        tally.opaque += ack.opaque.len();
        tally.jwt += ack.jwt.len();
        tally.codes += ack.codes.len();
        tally.refresh += ack.refresh.len();
        tally.lost += missing.len();
        notice(&format!(
            "{what} round {round}: {} opaque tokens, {} JWTs, {} codes, {} refresh tokens acknowledged; {} lost",
            ack.opaque.len(),
            ack.jwt.len(),
            ack.codes.len(),
            ack.refresh.len(),
            missing.len()
        ));
        assert!(
            missing.is_empty(),
            "{what} round {round}: {} of the acknowledged values were lost after kill -9, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        all.opaque.extend(ack.opaque);
        all.jwt.extend(ack.jwt);
    }
    // A later crash must not take back what an earlier restart showed: every access token of
    // every round is still active at the end.
    let mut values: Vec<(Kind, String)> = Vec::new();
    values.extend(all.opaque.into_iter().map(|v| (Kind::Opaque, v)));
    values.extend(all.jwt.into_iter().map(|v| (Kind::Jwt, v)));
    let missing = lost(&base, values).await;
    assert!(
        missing.is_empty(),
        "{what}: {} access tokens of earlier rounds were lost by later crashes, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    drop(node);
    tally
}

/// Nothing answered 200 is lost when the process is killed under load (SIGKILL, five times) on
/// SQLite, and on PostgreSQL when `WISSEL_TEST_POSTGRES_URL` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_killed_under_load() {
    let dir = std::env::temp_dir().join(unique("wissel_crash_db"));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let sqlite = format!("sqlite://{}", dir.join("wissel.db").display());
    let t = kill_rounds("SQLite", &sqlite).await;
    notice(&format!("SQLite, {ROUNDS} kills under load: {t:?}"));
    if let Some(url) = postgres_database("kill -9 under load on PostgreSQL").await {
        let t = kill_rounds("PostgreSQL", url.as_str()).await;
        notice(&format!("PostgreSQL, {ROUNDS} kills under load: {t:?}"));
    }
}
