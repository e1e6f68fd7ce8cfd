//! Login throttling under attack: parallel guesses, the bounded password-hash queue, the pending
//! request spent after too many failures, and the owner of a locked account who still gets in
//! from a browser that logged in to it before (docs/decisions/0010-login-throttling.md).

use std::sync::Arc;

use reqwest::StatusCode;
use wissel_core::ports::SystemClock;

use super::code_flow::{Browser, interaction_of, location, log_in_and_consent};
use super::{Node, http, node, start_node_edited};

const CB: &str = "https://webapp.example/cb";

/// A fresh pending request for `webapp` in `b`: the login page's interaction id and the CSRF
/// secret its form carries. `extra` adds parameters (e.g. `prompt=login`).
async fn pending_login(n: &Node, b: &mut Browser, extra: &[(&str, &str)]) -> (String, String) {
    let challenge =
        wissel_crypto::pkce::s256("a-verifier-that-is-long-enough-for-rfc-7636-0123456789");
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", "webapp"),
        ("redirect_uri", CB),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    let r = b
        .get(&n.url(&format!("/authorize?{}", super::code_flow::encode(&q))))
        .await;
    let to = location(&r);
    assert!(to.contains("/login?"), "{to}");
    let i = interaction_of(&to);
    assert_eq!(b.get(&to).await.status(), StatusCode::OK);
    (i, b.csrf())
}

/// POSTs the login form with this interaction and CSRF secret, without a browser's cookie jar:
/// the status and the body.
async fn attempt(
    n: &Node,
    i: &str,
    csrf: &str,
    user: &str,
    password: &str,
) -> (StatusCode, String) {
    let r = http()
        .post(n.url("/login"))
        .header("cookie", format!("wissel-csrf={csrf}"))
        .form(&[
            ("i", i),
            ("csrf", csrf),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.text().await.unwrap())
}

/// 25 wrong guesses for one account sent at once: the throttle reserves each attempt before the
/// password is checked, so at most `login.account_failures` (5) of them get a password check
/// (401) and every other one is refused (429) — not 25 checks because all read "0 failures".
#[tokio::test]
async fn parallel_wrong_guesses_get_at_most_the_limit_of_password_checks() {
    let n = node().await;
    let mut b = Browser::default();
    let (i, csrf) = pending_login(&n, &mut b, &[]).await;
    let guesses = (0..25).map(|k| {
        let (n, i, csrf) = (&n, i.clone(), csrf.clone());
        async move { attempt(n, &i, &csrf, "alice", &format!("guess-{k}")).await }
    });
    let answers = futures_join_all(guesses).await;
    let checked = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let refused: Vec<&String> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .map(|(_, body)| body)
        .collect();
    assert!(
        checked <= 5,
        "{checked} of 25 parallel guesses got a password check; the limit is 5"
    );
    assert_eq!(
        checked + refused.len(),
        25,
        "every guess is a 401 or a 429: {:?}",
        answers.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    assert!(
        refused
            .iter()
            .all(|b| b.contains("Too many failed attempts"))
    );
    // The right password is refused too while the account is throttled (from a new browser).
    let (status, _) = attempt(&n, &i, &csrf, "alice", "alice-password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    n.server.shutdown().await;
}

/// Anyone who knows a username can lock its account; its owner still gets in, with the right
/// password, from a browser that logged in to this account before (a device cookie), while a
/// browser without one is refused. The device gets its own, equally strict, budget.
#[tokio::test]
async fn a_locked_account_still_lets_its_owner_in_from_a_known_browser() {
    let n = node().await;
    // The owner logs in once from their browser.
    let mut owner = Browser::default();
    let challenge =
        wissel_crypto::pkce::s256("a-verifier-that-is-long-enough-for-rfc-7636-0123456789");
    let to = log_in_and_consent(
        &n,
        &mut owner,
        &[
            ("response_type", "code"),
            ("client_id", "webapp"),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
        ("alice", "alice-password"),
    )
    .await;
    assert!(to.starts_with(CB), "{to}");
    // Someone else locks the account.
    let mut attacker = Browser::default();
    let (i, csrf) = pending_login(&n, &mut attacker, &[]).await;
    for k in 0..5 {
        let (status, _) = attempt(&n, &i, &csrf, "alice", &format!("guess-{k}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = attempt(&n, &i, &csrf, "alice", "alice-password").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "a browser that never logged in to alice is refused, right password or not"
    );
    // The owner, asked to log in again, gets in.
    let (oi, ocsrf) = pending_login(&n, &mut owner, &[("prompt", "login")]).await;
    let r = owner
        .post(
            &n.url("/login"),
            &[
                ("i", oi.as_str()),
                ("csrf", ocsrf.as_str()),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the owner's browser passes the lock with the right password"
    );
    // That browser's guesses are throttled on their own.
    let (oi, ocsrf) = pending_login(&n, &mut owner, &[("prompt", "login")]).await;
    let mut statuses = Vec::new();
    for k in 0..6 {
        let r = owner
            .post(
                &n.url("/login"),
                &[
                    ("i", oi.as_str()),
                    ("csrf", ocsrf.as_str()),
                    ("username", "alice"),
                    ("password", &format!("guess-{k}")),
                ],
            )
            .await;
        statuses.push(r.status());
    }
    assert_eq!(statuses[..5], [StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    n.server.shutdown().await;
}

/// A pending request allows `login.interaction_failures` password checks (here 3); then it is
/// spent and the attacker has to start a new authorization request.
#[tokio::test]
async fn a_pending_request_is_spent_after_too_many_failures() {
    let n = start_node_edited(None, Arc::new(SystemClock), None, false, |t| {
        format!("{t}\n[login]\ninteraction_failures = 3\n")
    })
    .await;
    let mut b = Browser::default();
    let (i, csrf) = pending_login(&n, &mut b, &[]).await;
    // Three different accounts, so that no account is throttled.
    for user in ["u1", "u2", "u3"] {
        let (status, _) = attempt(&n, &i, &csrf, user, "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = attempt(&n, &i, &csrf, "bob", "bob-password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("data-kind=\"request_expired\""), "{body}");
    // The login page of that request is gone too.
    let r = b.get(&n.url(&format!("/login?i={i}"))).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    n.server.shutdown().await;
}

/// The password-hash pool has a bounded queue: beyond `max_concurrent_hashes` running and
/// `max_queued_hashes` waiting, a login is refused at once with 503 and `Retry-After`, never
/// queued without limit.
#[tokio::test]
async fn a_full_password_hash_queue_refuses_logins_with_503() {
    let n = start_node_edited(None, Arc::new(SystemClock), None, false, |t| {
        format!(
            "{t}\n[login]\nmax_concurrent_hashes = 1\nmax_queued_hashes = 1\naddress_failures = 1000\ninteraction_failures = 1000\n"
        )
    })
    .await;
    let mut b = Browser::default();
    let (i, csrf) = pending_login(&n, &mut b, &[]).await;
    let logins = (0..12).map(|k| {
        let (n, i, csrf) = (&n, i.clone(), csrf.clone());
        async move {
            let r = http()
                .post(n.url("/login"))
                .header("cookie", format!("wissel-csrf={csrf}"))
                .form(&[
                    ("i", i.as_str()),
                    ("csrf", csrf.as_str()),
                    ("username", format!("user-{k}").as_str()),
                    ("password", "wrong"),
                ])
                .send()
                .await
                .unwrap();
            let retry = r.headers().get("retry-after").cloned();
            (r.status(), retry, r.text().await.unwrap())
        }
    });
    let answers = futures_join_all(logins).await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        !busy.is_empty(),
        "12 logins at once with room for 2: some must be refused: {:?}",
        answers.iter().map(|(s, _, _)| *s).collect::<Vec<_>>()
    );
    assert!(
        answers.iter().all(
            |(s, _, _)| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::SERVICE_UNAVAILABLE
        ),
        "{:?}",
        answers.iter().map(|(s, _, _)| *s).collect::<Vec<_>>()
    );
    for (_, retry, body) in busy {
        assert!(retry.is_some(), "a 503 says when to retry");
        assert!(body.contains("data-error=\"busy\""), "{body}");
    }
    n.server.shutdown().await;
}

/// Runs futures concurrently on this task and collects their outputs in order.
pub(crate) async fn futures_join_all<F: std::future::Future>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let set: Vec<_> = fs.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    let mut set: Vec<_> = set.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, out) in set.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}
