//! Keys, secrets and pages: HSTS when wissel serves HTTPS itself, and the verified-token cache
//! emptied when a key leaves the key ring.

use std::sync::Arc;

use wissel_core::model::{KeyState, SigningAlg};
use wissel_core::ports::SystemClock;

use super::{ORDERS_SECRET, http, node, start_node_as};

/// Every response of a node that serves HTTPS itself carries `Strict-Transport-Security`
/// (pages, protocol errors, discovery); over plain HTTP it is never sent (RFC 6797 §7.2).
#[tokio::test]
async fn hsts_is_sent_over_https_and_never_over_http() {
    let tls = start_node_as(None, Arc::new(SystemClock), None, true).await;
    let ca = reqwest::Certificate::from_pem(tls.ca_pem.as_deref().unwrap().as_bytes()).unwrap();
    let rc = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let plain = node().await;
    for (n, client, hsts) in [(&tls, &rc, true), (&plain, &http(), false)] {
        let answers = [
            client
                .get(n.url("/.well-known/openid-configuration"))
                .send()
                .await
                .unwrap(),
            client.get(n.url("/login?i=nope")).send().await.unwrap(),
            client.post(n.url("/token")).send().await.unwrap(),
            client.get(n.url("/no-such-page")).send().await.unwrap(),
        ];
        for r in answers {
            let got = r
                .headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap().to_owned());
            if hsts {
                assert_eq!(
                    got.as_deref(),
                    Some("max-age=31536000"),
                    "{} over HTTPS",
                    r.url()
                );
            } else {
                assert_eq!(got, None, "{} over plain HTTP", r.url());
            }
        }
    }
    tls.server.shutdown().await;
    plain.server.shutdown().await;
}

/// A JWT verified once sits in the verified-token cache; when its key leaves the key ring (its
/// publication ended, or it was removed), the cache must not keep answering "active".
#[tokio::test]
async fn a_cached_token_is_inactive_once_its_key_left_the_ring() {
    let n = node().await;
    let token = n.token(&[("audience", "orders-api")]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let api = ("orders-api", ORDERS_SECRET);
    assert_eq!(n.introspect_as(api, &token).await["active"], true);
    // A new key signs; the old one is retired, then its publication ends now.
    let state = &n.server.state;
    let s = state.settings().clone();
    wissel_http::keys::rotate(
        state.store(),
        state.master(),
        SigningAlg::ES256,
        &s.id_token_algs,
        &s.rotation,
        state.now(),
        true,
    )
    .await
    .unwrap();
    let keys = state.store().list_keys().await.unwrap();
    let old = keys.iter().find(|k| k.kid == kid).unwrap();
    assert_eq!(old.state, KeyState::Retired);
    let now = state.now();
    assert!(
        state
            .store()
            .transition_key(
                &kid,
                KeyState::Retired,
                KeyState::Retired,
                now,
                Some(now - 1)
            )
            .await
            .unwrap()
    );
    state.sync_config().await.unwrap();
    assert!(
        !state.keys().jwks().to_string().contains(&kid),
        "the key has left the ring"
    );
    let v = n.introspect_as(api, &token).await;
    assert_eq!(v["active"], false, "a token whose key is gone: {v}");
    n.server.shutdown().await;
}
