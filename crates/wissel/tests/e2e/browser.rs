//! The login, consent, error and logout pages in a real headless Chromium, driven over WebDriver
//! (chromedriver) by `fantoccini`.
//!
//! Each test starts its own chromedriver on a free port and its own relying party: a tiny HTTP
//! server on 127.0.0.1 that shows, as a page, the query parameters the browser arrived with. A
//! failing test saves a screenshot (and the page's HTML) under `target/browser-screenshots/`.
//! Without chromedriver or Chromium (Debian: `apt-get install chromium chromium-driver`) the tests
//! print a notice and pass; `WISSEL_TEST_CHROMEDRIVER` names another chromedriver.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Node, WEBAPP_SECRET, http, notice, start_node_edited};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page may take to show what a test waits for. Generous: the tests share two cores
/// with the rest of the suite.
const WAIT: Duration = Duration::from_secs(20);
/// How long chromedriver may take to answer at all.
const DRIVER_START: Duration = Duration::from_secs(20);
const VERIFIER: &str = "a-browser-verifier-that-is-long-enough-for-rfc-7636-0123456789";

// --- the browser -----------------------------------------------------------------------------

/// An executable by name in `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|f| f.is_file())
}

/// chromedriver and Chromium, or why the browser tests cannot run.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let driver = match std::env::var_os("WISSEL_TEST_CHROMEDRIVER").filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(format!(
                    "WISSEL_TEST_CHROMEDRIVER={} does not exist",
                    p.display()
                ));
            }
            p
        }
        None => Some(PathBuf::from(CHROMEDRIVER))
            .filter(|p| p.is_file())
            .or_else(|| on_path("chromedriver"))
            .ok_or("chromedriver is not installed (Debian: chromium-driver)")?,
    };
    let chromium = Some(PathBuf::from(CHROMIUM))
        .filter(|p| p.is_file())
        .or_else(|| on_path("chromium"))
        .ok_or("Chromium is not installed (Debian: chromium)")?;
    Ok((driver, chromium))
}

/// A chromedriver process of this test, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it is ready. A port taken between
    /// finding it free and chromedriver binding it makes chromedriver exit: another port is
    /// tried then.
    async fn start(path: &Path) -> Result<Driver> {
        let mut last = None;
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let child = Command::new(path)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", path.display()))?;
            let mut driver = Driver {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            match driver.ready().await {
                Ok(()) => return Ok(driver),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("chromedriver did not start")))
    }

    async fn ready(&mut self) -> Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("chromedriver exited at start ({status})");
            }
            if let Ok(r) = client.get(format!("{}/status", self.url)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "chromedriver did not become ready within {DRIVER_START:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A WebDriver session in a fresh headless Chromium (chromedriver gives each session its own
/// profile, so no cookies are shared between tests).
async fn open_session(driver: &Driver, chromium: &Path, extra_args: &[&str]) -> Result<Client> {
    let args: Vec<&str> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        // Only loopback resolves: whatever a page does, the browser reaches nothing
        // outside this machine (a wrong redirect to evil.example fails locally).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]
    .into_iter()
    .chain(extra_args.iter().copied())
    .collect();
    let caps = json!({
        "browserName": "chrome",
        "pageLoadStrategy": "normal",
        "timeouts": { "pageLoad": 30_000, "script": 10_000, "implicit": 0 },
        "goog:chromeOptions": {
            "binary": chromium,
            "args": args,
            // The pages choose their language by Accept-Language: make it English everywhere.
            "prefs": { "intl.accept_languages": "en-US,en" },
        },
    });
    let Value::Object(caps) = caps else {
        bail!("capabilities are not an object");
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    Ok(ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await?)
}

/// Where screenshots of failed tests go: `<target>/browser-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest
                .ancestors()
                .find(|dir| dir.join("Cargo.lock").is_file())
                .unwrap_or(manifest)
                .join("target")
        }
    };
    target.join("browser-screenshots")
}

/// Saves what the browser shows, as `<name>.png` and `<name>.html`; returns where.
async fn save_screenshot(c: &Client, name: &str) -> Result<PathBuf> {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let png = dir.join(format!("{name}.png"));
    std::fs::write(&png, c.screenshot().await?)?;
    if let Ok(html) = c.source().await {
        let _ = std::fs::write(dir.join(format!("{name}.html")), html);
    }
    Ok(png)
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "panic".to_owned(), |s| (*s).to_owned()),
    }
}

/// Runs `body` against a fresh browser. Skips (with a notice) when there is no browser. When the
/// body fails, by error or panic, saves a screenshot and panics with the error. The session is
/// closed (which quits Chromium) and chromedriver killed in every case.
async fn browser_test<F, Fut>(name: &str, body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    browser_test_with(name, &[], body).await;
}

/// [`browser_test`] with more Chromium arguments.
async fn browser_test_with<F, Fut>(name: &str, extra_args: &[&str], body: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let (driver_path, chromium) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) => {
            notice(&format!("{why}; the browser test {name} is skipped"));
            return;
        }
    };
    let driver = Driver::start(&driver_path)
        .await
        .unwrap_or_else(|e| panic!("{name}: chromedriver: {e:#}"));
    let client = open_session(&driver, &chromium, extra_args)
        .await
        .unwrap_or_else(|e| panic!("{name}: starting Chromium over WebDriver: {e:#}"));
    // In a task of its own, so that a panic in the body still gets a screenshot.
    let failure = match tokio::spawn(body(client.clone())).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(e) if e.is_panic() => Some(panic_text(e.into_panic())),
        Err(e) => Some(e.to_string()),
    };
    let failure = match failure {
        None => None,
        Some(e) => {
            let url = match client.current_url().await {
                Ok(u) => u.to_string(),
                Err(err) => format!("unknown ({err})"),
            };
            let shot = match save_screenshot(&client, name).await {
                Ok(path) => format!("screenshot: {}", path.display()),
                Err(err) => format!("no screenshot: {err:#}"),
            };
            Some(format!("{e}\n(browser at {url}; {shot})"))
        }
    };
    if failure.is_none() {
        // A screenshot of an earlier failure of this test is out of date now.
        for ext in ["png", "html"] {
            let _ = std::fs::remove_file(screenshot_dir().join(format!("{name}.{ext}")));
        }
    }
    let _ = client.close().await;
    drop(driver);
    if let Some(e) = failure {
        panic!("browser test {name} failed: {e}");
    }
}

// --- the relying party -----------------------------------------------------------------------

/// The test's relying party on 127.0.0.1: `GET /cb` and `GET /bye` answer with a page showing
/// each query parameter as `<p id="NAME">VALUE</p>`, under `<h1 id="rp" data-page="cb|bye">`.
struct Rp {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Rp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn rp_page(page: &str, query: Option<String>) -> axum::response::Html<String> {
    let query = query.unwrap_or_default();
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>RP {page}</title>\
         </head><body><h1 id=\"rp\" data-page=\"{page}\">Test relying party: {page}</h1>\n"
    );
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        html.push_str(&format!("<p id=\"{}\">{}</p>\n", escape(&k), escape(&v)));
    }
    html.push_str("</body></html>\n");
    axum::response::Html(html)
}

impl Rp {
    async fn start() -> Result<Rp> {
        use axum::extract::RawQuery;
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new()
            .route(
                "/cb",
                get(|RawQuery(q): RawQuery| async { rp_page("cb", q) }),
            )
            .route(
                "/bye",
                get(|RawQuery(q): RawQuery| async { rp_page("bye", q) }),
            );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Rp { base, task })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

// --- helpers ---------------------------------------------------------------------------------

/// Waits for an element matching `css` (on the page the browser is on or is going to).
async fn wait_for(c: &Client, css: &str) -> Result<Element> {
    match c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(e) => Ok(e),
        Err(e) => {
            let url = match c.current_url().await {
                Ok(u) => u.to_string(),
                Err(err) => format!("unknown ({err})"),
            };
            // What the page says instead, e.g. an error page's title and detail.
            let mut shows = Vec::new();
            for css in ["h1", ".detail", "#login-error"] {
                if let Ok(e) = c.find(Locator::Css(css)).await
                    && let Ok(text) = e.text().await
                {
                    shows.push(text);
                }
            }
            bail!(
                "no `{css}` within {WAIT:?} ({e}); the browser is at {url}, showing {:?}",
                shows.join(" | ")
            )
        }
    }
}

/// Waits until the browser's URL starts with `prefix`; returns the URL.
async fn wait_for_url(c: &Client, prefix: &str) -> Result<url::Url> {
    let deadline = Instant::now() + WAIT;
    loop {
        let url = c.current_url().await?;
        if url.as_str().starts_with(prefix) {
            return Ok(url);
        }
        ensure!(
            Instant::now() < deadline,
            "the browser did not reach {prefix} within {WAIT:?}: it is at {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> Result<String> {
    Ok(c.find(Locator::Css(css)).await?.text().await?)
}

async fn attr_of(e: &Element, name: &str) -> Result<String> {
    e.attr(name)
        .await?
        .with_context(|| format!("the element has no `{name}` attribute"))
}

/// The query parameters shown by the relying party's page.
async fn rp_params(c: &Client) -> Result<HashMap<String, String>> {
    let mut params = HashMap::new();
    for p in c.find_all(Locator::Css("p[id]")).await? {
        params.insert(attr_of(&p, "id").await?, p.text().await?);
    }
    Ok(params)
}

fn authorize_url(n: &Node, client_id: &str, redirect_uri: &str, state: &str) -> String {
    let challenge = wissel_crypto::pkce::s256(VERIFIER);
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid profile"),
            ("state", state),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    n.url(&format!("/authorize?{q}"))
}

/// Fills in and submits the login form the browser shows.
async fn submit_login(c: &Client, user: &str, password: &str) -> Result<()> {
    let username = wait_for(c, "#username").await?;
    username.clear().await?;
    username.send_keys(user).await?;
    let field = c.find(Locator::Id("password")).await?;
    field.clear().await?;
    field.send_keys(password).await?;
    c.find(Locator::Id("login-submit")).await?.click().await?;
    Ok(())
}

/// Authorize as `webapp`, log in as `user` (right password) and answer the consent page with
/// `button` (`#consent-allow` or `#consent-deny`); returns the relying party's parameters once
/// the browser is back at `redirect_uri`.
async fn log_in_and_answer(
    c: &Client,
    n: &Node,
    redirect_uri: &str,
    state: &str,
    user: (&str, &str),
    button: &str,
) -> Result<HashMap<String, String>> {
    c.goto(&authorize_url(n, "webapp", redirect_uri, state))
        .await?;
    submit_login(c, user.0, user.1).await?;
    let answer = wait_for(c, button).await?;
    let at = c.current_url().await?;
    ensure!(
        at.as_str().starts_with(&n.url("/consent")),
        "the consent page is at {at}"
    );
    answer.click().await?;
    wait_for_url(c, redirect_uri).await?;
    wait_for(c, "#rp").await?;
    rp_params(c).await
}

// --- the tests -------------------------------------------------------------------------------

/// authorize → login page (English, labelled) → a wrong password is refused on the page → the
/// right one → consent for "Web App" → allow → the relying party gets a code, its state and the
/// issuer; the code is good for an ID token at /token.
#[tokio::test]
async fn browser_login_consent_and_code() {
    browser_test("browser_login_consent_and_code", |c| async move {
        let rp = Rp::start().await?;
        let n = node_for(&rp, false).await;
        let redirect = rp.url("/cb");
        c.goto(&authorize_url(&n, "webapp", &redirect, "st-login"))
            .await?;

        // The login page.
        wait_for(&c, "#username").await?;
        let at = c.current_url().await?;
        ensure!(
            at.as_str().starts_with(&n.url("/login?")),
            "authorize leads to the login page, not {at}"
        );
        let lang = attr_of(&c.find(Locator::Css("html")).await?, "lang").await?;
        ensure!(lang == "en", "<html lang> is {lang:?}");
        for (field, label) in [("username", "Username"), ("password", "Password")] {
            let text = text_of(&c, &format!("label[for='{field}']")).await?;
            ensure!(text == label, "the label of #{field} reads {text:?}");
        }
        ensure!(
            c.find_all(Locator::Id("login-error")).await?.is_empty(),
            "no error before the first attempt"
        );

        // A wrong password: the form comes back with the error, still on /login.
        submit_login(&c, "alice", "not-alices-password").await?;
        let error = wait_for(&c, "#login-error").await?;
        let kind = attr_of(&error, "data-error").await?;
        ensure!(kind == "bad_credentials", "data-error is {kind:?}");
        let message = error.text().await?;
        ensure!(
            message == "Wrong username or password.",
            "the error reads {message:?}"
        );
        let at = c.current_url().await?;
        ensure!(
            at.as_str().starts_with(&n.base) && at.path() == "/login",
            "a refused login stays on /login, not {at}"
        );

        // The right password: the consent page names the client.
        submit_login(&c, "alice", "alice-password").await?;
        let allow = wait_for(&c, "#consent-allow").await?;
        let at = c.current_url().await?;
        ensure!(
            at.as_str().starts_with(&n.url("/consent")),
            "the consent page is at {at}"
        );
        let title = text_of(&c, "h1").await?;
        ensure!(title.contains("Web App"), "the consent page asks {title:?}");
        allow.click().await?;

        // Back at the relying party with a code.
        let at = wait_for_url(&c, &redirect).await?;
        ensure!(
            at.path() == "/cb",
            "allowed, the browser should be at /cb: {at}"
        );
        wait_for(&c, "#rp").await?;
        let p = rp_params(&c).await?;
        ensure!(
            p.get("state").map(String::as_str) == Some("st-login"),
            "the relying party should get state=st-login: {p:?}"
        );
        ensure!(
            p.get("iss") == Some(&n.base),
            "the relying party should get iss={}: {p:?}",
            n.base
        );
        ensure!(!p.contains_key("error"), "allowed, yet an error: {p:?}");
        let code = p
            .get("code")
            .filter(|c| !c.is_empty())
            .with_context(|| format!("no code: {p:?}"))?;

        // The code at the token endpoint.
        let r = http()
            .post(n.url("/token"))
            .basic_auth("webapp", Some(WEBAPP_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect.as_str()),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await?;
        let status = r.status();
        let t: Value = r.json().await?;
        ensure!(status == StatusCode::OK, "the code at /token: {status} {t}");
        let id_token = t["id_token"]
            .as_str()
            .with_context(|| format!("no id_token: {t}"))?;
        let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(id_token)?;
        ensure!(claims["iss"] == n.base.as_str(), "ID token iss: {claims}");
        ensure!(
            claims["aud"] == "webapp" || claims["aud"] == json!(["webapp"]),
            "ID token aud: {claims}"
        );
        ensure!(claims["sub"].is_string(), "ID token sub: {claims}");
        n.server.shutdown().await;
        Ok(())
    })
    .await;
}

/// Deny on the consent page: the relying party gets `access_denied` and its state, no code.
#[tokio::test]
async fn browser_consent_denied() {
    browser_test("browser_consent_denied", |c| async move {
        let rp = Rp::start().await?;
        let n = node_for(&rp, false).await;
        let p = log_in_and_answer(
            &c,
            &n,
            &rp.url("/cb"),
            "st-deny",
            ("bob", "bob-password"),
            "#consent-deny",
        )
        .await?;
        ensure!(
            p.get("error").map(String::as_str) == Some("access_denied"),
            "denied, the relying party should get error=access_denied: {p:?}"
        );
        ensure!(
            p.get("state").map(String::as_str) == Some("st-deny"),
            "the relying party should get state=st-deny: {p:?}"
        );
        ensure!(
            p.get("iss") == Some(&n.base),
            "the relying party should get iss={}: {p:?}",
            n.base
        );
        ensure!(!p.contains_key("code"), "a code after a denial: {p:?}");
        n.server.shutdown().await;
        Ok(())
    })
    .await;
}

/// An unregistered redirect URI, or an unknown client: an error page on the server, and the
/// browser is not sent anywhere.
#[tokio::test]
async fn browser_bad_redirect_uri_and_unknown_client() {
    browser_test(
        "browser_bad_redirect_uri_and_unknown_client",
        |c| async move {
            let rp = Rp::start().await?;
            let n = node_for(&rp, false).await;
            for (client, redirect, kind) in [
                ("webapp", "https://evil.example/cb", "bad_redirect_uri"),
                ("no-such-client", rp.url("/cb").as_str(), "unknown_client"),
            ] {
                c.goto(&authorize_url(&n, client, redirect, "st-bad"))
                    .await?;
                let title = wait_for(&c, "#error-title").await?;
                let got = attr_of(&title, "data-kind").await?;
                ensure!(got == kind, "{client} {redirect}: data-kind is {got:?}");
                ensure!(!title.text().await?.is_empty(), "the error has a title");
                let at = c.current_url().await?;
                ensure!(
                    at.as_str().starts_with(&n.url("/authorize?")),
                    "{client} {redirect}: the browser left the server for {at}"
                );
            }
            n.server.shutdown().await;
            Ok(())
        },
    )
    .await;
}

/// A node like [`node`], except that `webapp` registers the relying party's own `/cb` and `/bye`,
/// port included: a confidential web client's loopback URIs match exactly. With `native`,
/// `webapp` is registered as a native app instead, and keeps `http://127.0.0.1/cb` and
/// `http://127.0.0.1/bye`, which then match on any port (RFC 8252 §7.3).
async fn node_for(rp: &Rp, native: bool) -> Node {
    let (cb, bye) = (rp.url("/cb"), rp.url("/bye"));
    start_node_edited(
        None,
        std::sync::Arc::new(wissel_core::ports::SystemClock),
        None,
        false,
        move |text| {
            let uris = r#"redirect_uris = ["https://webapp.example/cb", "http://127.0.0.1/cb"]
post_logout_redirect_uris = ["https://webapp.example/bye", "http://127.0.0.1/bye"]"#;
            assert_eq!(
                text.matches(uris).count(),
                1,
                "the test configuration no longer registers webapp's URIs as {uris}"
            );
            let registered = if native {
                format!("application_type = \"native\"\n{uris}")
            } else {
                format!(
                    "redirect_uris = [\"https://webapp.example/cb\", \"{cb}\"]\n\
                     post_logout_redirect_uris = [\"https://webapp.example/bye\", \"{bye}\"]"
                )
            };
            text.replacen(uris, &registered, 1)
        },
    )
    .await
}

/// Logs in through the browser, then RP-initiated logout with a return to the relying party's
/// `/bye`: the confirmation page, the return with the state, and the session over (/account asks
/// for a login again).
async fn logout_flow(c: &Client, n: &Node, rp: &Rp) -> Result<()> {
    let p = log_in_and_answer(
        c,
        n,
        &rp.url("/cb"),
        "st-in",
        ("alice", "alice-password"),
        "#consent-allow",
    )
    .await?;
    ensure!(p.contains_key("code"), "no code after the login: {p:?}");

    // Logged in: the account page, not the login page.
    c.goto(&n.url("/account")).await?;
    wait_for(c, "#account-logout").await?;

    let bye = rp.url("/bye");
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", "webapp"),
            ("post_logout_redirect_uri", bye.as_str()),
            ("state", "z"),
        ])
        .finish();
    c.goto(&n.url(&format!("/logout?{q}"))).await?;
    let confirm = wait_for(c, "#logout-confirm").await?;
    ensure!(
        c.find_all(Locator::Id("logout-cancel")).await?.len() == 1,
        "the confirmation offers a way out"
    );
    let main = text_of(c, "main").await?;
    ensure!(
        main.contains("Web App"),
        "the page names the client: {main:?}"
    );
    confirm.click().await?;

    let at = wait_for_url(c, &bye).await?;
    ensure!(
        at.path() == "/bye",
        "after logout the browser should be at /bye: {at}"
    );
    wait_for(c, "#rp").await?;
    let p = rp_params(c).await?;
    ensure!(
        p.get("state").map(String::as_str) == Some("z"),
        "the relying party should get state=z after logout: {p:?}"
    );

    // The session is over.
    c.goto(&n.url("/account")).await?;
    wait_for(c, "#username").await?;
    let at = c.current_url().await?;
    ensure!(
        at.as_str().starts_with(&n.url("/login")),
        "after logout /account leads to the login page, not {at}"
    );
    Ok(())
}

/// RP-initiated logout back to a post-logout URI registered exactly (port included).
#[tokio::test]
async fn browser_logout() {
    browser_test("browser_logout", |c| async move {
        let rp = Rp::start().await?;
        let n = node_for(&rp, false).await;
        logout_flow(&c, &n, &rp).await?;
        n.server.shutdown().await;
        Ok(())
    })
    .await;
}

/// RP-initiated logout back to `http://127.0.0.1:<any port>/bye` when `http://127.0.0.1/bye` is
/// registered by a native app: the loopback rule of RFC 8252 §7.3, as for redirect URIs.
#[tokio::test]
async fn browser_logout_to_a_loopback_port() {
    browser_test("browser_logout_to_a_loopback_port", |c| async move {
        let rp = Rp::start().await?;
        let n = node_for(&rp, true).await;
        logout_flow(&c, &n, &rp).await?;
        n.server.shutdown().await;
        Ok(())
    })
    .await;
}

/// The MedMij consent page: a PGO's authorization request (built by the PGO library) → login →
/// the page names the PGO by its OCL name, the aanbieder and the gegevensdiensten by their GNL
/// names → a long-lasting consent of 14 days → the PGO redeems the code over mutual TLS. The node
/// serves HTTPS with the test CA, which Chromium is told to accept.
#[tokio::test]
async fn browser_medmij_consent() {
    use super::medmij::{PGO, PGO_CB, Pki, medmij_node};
    let pki = Pki::new();
    let n = medmij_node(&pki, |t| t, wissel::server::Hooks::default()).await;
    let pgo = n.pgo(PGO, Some(pki.client(PGO)));
    drop(pki);
    browser_test_with(
        "browser_medmij_consent",
        &["--ignore-certificate-errors"],
        move |c| async move {
            let pending = pgo.authorization_request("umcwissel")?;
            c.goto(&pending.url).await?;
            submit_login(&c, "alice", "alice-password").await?;
            let allow = wait_for(&c, "#consent-allow").await?;
            let title = text_of(&c, "h1").await?;
            ensure!(
                title == "De Test PGO wants to collect your data from UMC Wissel",
                "the consent page asks {title:?}"
            );
            let mut names = Vec::new();
            for li in c.find_all(Locator::Css("#gegevensdiensten li")).await? {
                names.push(li.text().await?);
            }
            ensure!(
                names == ["Basisgegevens zorg", "Huisartsgegevens", "Documenten"],
                "the gegevensdiensten by their GNL names: {names:?}"
            );
            c.find(Locator::Id("duration-lasting"))
                .await?
                .click()
                .await?;
            let days = c.find(Locator::Id("days")).await?;
            days.clear().await?;
            days.send_keys("14").await?;
            allow.click().await?;
            // The PGO's host does not resolve here: the browser stops at its URL.
            let at = wait_for_url(&c, PGO_CB).await?;
            let tokens = pgo.redeem(pending, at.as_str()).await?;
            ensure!(tokens.scope == "48 49", "scope {}", tokens.scope);
            ensure!(tokens.refresh_token.is_some(), "a long-lasting consent");
            n.server.shutdown().await;
            Ok(())
        },
    )
    .await;
}
