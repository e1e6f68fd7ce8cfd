//! The `wissel` binary's `link`, `authz` and `policy explain` commands, run as an operator runs
//! them; and a running node following a link changed from the command line.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use wissel_core::ports::SystemClock;

use super::{
    BACKEND_SECRET, OTHER_SECRET, TempDir, config_text, master, signer_key, start_node, unique,
};

/// A client that may exchange tokens, added to the base configuration.
const BROKER: &str = r#"
[[clients]]
id = "broker"
secret = "broker-secret-0123456789abcdef-0123456789a"
grant_types = ["client_credentials", "token_exchange"]
"#;

/// The binary with `args`, under the test master key.
fn wissel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wissel"))
        .args(args)
        .env("WISSEL_MASTER_KEY", master().0)
        .output()
        .unwrap()
}

/// Runs a command that must succeed; its standard output.
fn ok(args: &[&str]) -> String {
    let out = wissel(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail with `code`; its standard error.
fn fails(code: i32, args: &[&str]) -> String {
    let out = wissel(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "{args:?}: errors go to stderr");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The line of a report that starts with `first` (a scope, a label, a client id…).
fn line<'a>(report: &'a str, first: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no line starting with {first:?} in:\n{report}"))
}

fn write_config(dir: &Path, storage: &str, issuer: &str) -> String {
    let file = dir.join("wissel.toml");
    std::fs::write(
        &file,
        config_text(issuer, storage, &signer_key().1) + BROKER,
    )
    .unwrap();
    file.to_str().unwrap().to_owned()
}

#[test]
fn links_authorizations_and_policy_explain_from_the_command_line() {
    let dir = std::env::temp_dir().join(unique("wissel_admin"));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let cfg = &write_config(&dir, "sqlite://wissel.db", "http://127.0.0.1:1");
    ok(&["apply", cfg]);
    // dave is in group staff (alice, bob and the disabled carol come from the file).
    let pw = dir.join("pw");
    std::fs::write(&pw, "dave-password-1\n").unwrap();
    ok(&[
        "user",
        "create",
        "dave",
        "-c",
        cfg,
        "--password-file",
        pw.to_str().unwrap(),
        "--group",
        "staff",
    ]);

    // ---- link set / list / remove ----
    let set = [
        "link",
        "set",
        "-c",
        cfg,
        "--client",
        "broker",
        "--api",
        "orders-api",
        "--scopes",
        "orders:read orders:write",
        "--exchange",
        "--may-act",
        "agent-7",
        "--attribute",
        "tier=2",
        "--attribute",
        "customer=acme",
    ];
    assert!(ok(&set).contains("link broker → orders-api created"));
    assert!(ok(&set).contains("unchanged"), "the same link again");
    let err = fails(
        2,
        &[
            "link",
            "set",
            "-c",
            cfg,
            "--client",
            "broker",
            "--api",
            "billing-api",
            "--scopes",
            "billing:read orders:read",
            "--delegation",
            "--attribute",
            "aud=x",
            "--attribute",
            "chain=x",
        ],
    );
    for needle in [
        "\"orders:read\" is not offered by API \"billing-api\"",
        "--delegation",
        "--attribute aud",
        "--attribute chain",
    ] {
        assert!(err.contains(needle), "{needle} missing in {err}");
    }
    let err = fails(
        2,
        &[
            "link",
            "set",
            "-c",
            cfg,
            "--client",
            "nobody",
            "--api",
            "orders-api",
        ],
    );
    assert!(err.contains("there is no client \"nobody\""), "{err}");
    let err = fails(
        2,
        &[
            "link", "set", "-c", cfg, "--client", "broker", "--api", "nothing",
        ],
    );
    assert!(err.contains("there is no API \"nothing\""), "{err}");

    let list = ok(&["link", "list", "-c", cfg]);
    let header = list.lines().next().unwrap();
    for column in [
        "client",
        "api",
        "scopes",
        "exchange",
        "delegation",
        "may_act",
        "attributes",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let broker: Vec<&str> = line(&list, "broker").split_whitespace().collect();
    assert_eq!(
        broker,
        [
            "broker",
            "orders-api",
            "orders:read",
            "orders:write",
            "yes",
            "no",
            "agent-7",
            r#"{"customer":"acme","tier":2}"#
        ],
        "{list}"
    );
    assert!(
        list.contains("backend") && list.contains("webapp"),
        "declared links are listed too: {list}"
    );
    let only = ok(&["link", "list", "-c", cfg, "--api", "billing-api"]);
    assert_eq!(
        only.lines().count(),
        2,
        "header and backend → billing-api: {only}"
    );
    assert!(line(&only, "backend").contains("billing:read"));

    // ---- authz grant / list / revoke ----
    let grant = |who: &str, name: &str, scopes: &str| {
        ok(&[
            "authz",
            "grant",
            "-c",
            cfg,
            who,
            name,
            "--api",
            "orders-api",
            "--scopes",
            scopes,
        ])
    };
    assert!(grant("--user", "dave", "orders:read").contains("user dave → orders-api created"));
    assert!(
        grant("--group", "staff", "orders:write orders:admin")
            .contains("group staff → orders-api created")
    );
    let err = fails(
        2,
        &[
            "authz",
            "grant",
            "-c",
            cfg,
            "--user",
            "nobody",
            "--api",
            "orders-api",
            "--scopes",
            "orders:read",
        ],
    );
    assert!(err.contains("there is no user \"nobody\""), "{err}");
    let err = fails(
        2,
        &[
            "authz",
            "grant",
            "-c",
            cfg,
            "--group",
            "staff",
            "--api",
            "orders-api",
            "--scopes",
            "billing:read",
        ],
    );
    assert!(err.contains("\"billing:read\" is not offered"), "{err}");
    let all = ok(&["authz", "list", "-c", cfg, "--api", "orders-api"]);
    assert!(line(&all, "orders-api").contains("user alice"), "{all}");
    assert!(
        all.contains("user dave") && all.contains("group staff"),
        "{all}"
    );
    let mine = ok(&["authz", "list", "-c", cfg, "--user", "dave"]);
    assert!(!mine.contains("alice"), "only what applies to dave: {mine}");
    assert!(
        mine.contains("dave holds for orders-api: orders:admin orders:read orders:write"),
        "{mine}"
    );

    // ---- policy explain ----
    let explain = |client: &str, api: &str, user: &str, scope: Option<&str>| {
        let mut args = vec![
            "policy", "explain", "-c", cfg, "--client", client, "--api", api, "--user", user,
        ];
        if let Some(s) = scope {
            args.extend(["--scope", s]);
        }
        ok(&args)
    };
    // Granted: dave holds everything through his own and his group's authorizations; the link
    // stops orders:admin.
    let r = explain("broker", "orders-api", "dave", None);
    assert!(line(&r, "link").contains("exchange trust: yes"), "{r}");
    assert!(line(&r, "link").contains("delegation: no"), "{r}");
    assert!(
        line(&r, "authorized").contains("user dave (orders:read), group staff"),
        "{r}"
    );
    assert_eq!(
        line(&r, "orders:read").split_whitespace().nth(1),
        Some("granted")
    );
    assert_eq!(
        line(&r, "orders:write").split_whitespace().nth(1),
        Some("granted")
    );
    assert_eq!(
        line(&r, "orders:admin"),
        "orders:admin  refused by allowed (the link)",
        "{r}"
    );
    assert_eq!(
        line(&r, "verdict"),
        "verdict     granted: orders:read orders:write"
    );
    // Refused by the link vs by the user: alice holds only orders:read.
    let r = explain(
        "broker",
        "orders-api",
        "alice",
        Some("orders:read orders:write orders:admin"),
    );
    assert!(line(&r, "orders:read").ends_with("granted"), "{r}");
    assert!(
        line(&r, "orders:write").ends_with("refused by authorized (the user)"),
        "{r}"
    );
    assert!(
        line(&r, "orders:admin").ends_with("refused by allowed (the link), authorized (the user)"),
        "{r}"
    );
    assert_eq!(line(&r, "verdict"), "verdict     granted: orders:read");
    // A scope nobody offers, and one the request leaves out.
    let r = explain(
        "broker",
        "orders-api",
        "dave",
        Some("orders:admin billing:read"),
    );
    assert!(
        line(&r, "billing:read").contains("offered (the API), allowed (the link)"),
        "{r}"
    );
    assert!(line(&r, "orders:read").ends_with("refused by requested (the request)"));
    assert!(
        line(&r, "verdict").starts_with("verdict     invalid_scope:"),
        "nothing left: {r}"
    );
    // No trust: not linked, then linked without exchange.
    let r = explain("broker", "billing-api", "dave", None);
    assert!(line(&r, "link").contains("not linked"), "{r}");
    assert!(
        line(&r, "billing:read").contains("allowed (the link)"),
        "{r}"
    );
    assert_eq!(
        line(&r, "verdict"),
        "verdict     unauthorized_client: the API does not trust this client for token exchange"
    );
    ok(&[
        "link",
        "set",
        "-c",
        cfg,
        "--client",
        "broker",
        "--api",
        "billing-api",
        "--scopes",
        "billing:read",
    ]);
    let r = explain("broker", "billing-api", "dave", None);
    assert!(line(&r, "link").contains("exchange trust: no"), "{r}");
    assert!(line(&r, "verdict").contains("unauthorized_client"), "{r}");
    // A client without the grant.
    let r = explain("backend", "orders-api", "dave", None);
    assert!(
        line(&r, "verdict").contains("unauthorized_client: this client may not use"),
        "{r}"
    );
    // An unauthorized user, and a disabled one.
    let r = explain("broker", "orders-api", "bob", None);
    assert!(line(&r, "authorized").starts_with("authorized  no"), "{r}");
    assert!(
        line(&r, "orders:read").ends_with("refused by authorized (the user)"),
        "{r}"
    );
    assert_eq!(
        line(&r, "verdict"),
        "verdict     invalid_grant: the user is not authorized for this API"
    );
    let r = explain("broker", "orders-api", "carol", None);
    assert!(line(&r, "user").contains("disabled"), "{r}");
    assert!(line(&r, "verdict").contains("invalid_grant"), "{r}");
    // Usage errors: exit status 2.
    for (flag, value, needle) in [
        ("--client", "nobody", "there is no client"),
        ("--api", "nothing", "there is no API"),
        ("--user", "nobody", "there is no user"),
    ] {
        let mut args = vec![
            "policy",
            "explain",
            "-c",
            cfg,
            "--client",
            "broker",
            "--api",
            "orders-api",
            "--user",
            "dave",
        ];
        let i = args.iter().position(|a| *a == flag).unwrap();
        args[i + 1] = value;
        assert!(fails(2, &args).contains(needle));
    }
    let err = fails(
        2,
        &[
            "policy",
            "explain",
            "-c",
            cfg,
            "--client",
            "broker",
            "--api",
            "orders-api",
            "--user",
            "dave",
            "--scope",
            "a\"b",
        ],
    );
    assert!(err.contains("--scope"), "{err}");

    // ---- revoke and remove, once ----
    let revoke = [
        "authz",
        "revoke",
        "-c",
        cfg,
        "--group",
        "staff",
        "--api",
        "orders-api",
    ];
    assert!(ok(&revoke).contains("group staff → orders-api revoked"));
    assert!(fails(2, &revoke).contains("holds no authorization"));
    let r = explain("broker", "orders-api", "dave", None);
    assert!(
        line(&r, "orders:write").ends_with("refused by authorized (the user)"),
        "{r}"
    );
    assert_eq!(line(&r, "verdict"), "verdict     granted: orders:read");
    let remove = [
        "link",
        "remove",
        "-c",
        cfg,
        "--client",
        "broker",
        "--api",
        "billing-api",
    ];
    assert!(ok(&remove).contains("link broker → billing-api removed"));
    assert!(fails(2, &remove).contains("there is no link"));
    assert!(!ok(&["link", "list", "-c", cfg, "--client", "broker"]).contains("billing-api"));
}

/// `link set` and `link remove` against the database of a running node: the node follows
/// within its sync interval (the generation bump), with no restart.
#[tokio::test]
async fn a_running_node_follows_link_changes_made_from_the_command_line() {
    let node = start_node(None, Arc::new(SystemClock)).await;
    let dir = std::env::temp_dir().join(unique("wissel_admin_node"));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let cfg = write_config(&dir, &node.storage, &node.base);
    let run = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(&args)
        })
        .await
        .unwrap()
    };
    let args = |s: &[&str]| s.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    // `other` (client_secret_post) is linked to orders-api only.
    let billing = || async {
        node.post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "other"),
                ("client_secret", OTHER_SECRET),
                ("audience", "billing-api"),
            ],
        )
        .await
    };
    let wait_for = |want: StatusCode| async move {
        let start = Instant::now();
        loop {
            let r = billing().await;
            if r.status() == want {
                return r.json::<Value>().await.unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "still {} after 3 s",
                r.status()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(
        billing().await.status(),
        StatusCode::BAD_REQUEST,
        "not linked yet"
    );

    let out = run(args(&[
        "link",
        "set",
        "-c",
        &cfg,
        "--client",
        "other",
        "--api",
        "billing-api",
        "--scopes",
        "billing:read",
    ]))
    .await;
    assert!(out.contains("created"), "{out}");
    let token = wait_for(StatusCode::OK).await;
    assert_eq!(token["scope"], "billing:read");

    run(args(&[
        "link",
        "remove",
        "-c",
        &cfg,
        "--client",
        "other",
        "--api",
        "billing-api",
    ]))
    .await;
    wait_for(StatusCode::BAD_REQUEST).await;
    // The declared links are untouched.
    let r = node
        .post(
            "/token",
            Some(("backend", BACKEND_SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("audience", "billing-api"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    node.server.shutdown().await;
}
