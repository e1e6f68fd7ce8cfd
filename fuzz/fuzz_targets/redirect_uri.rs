//! The redirect-URI matcher on arbitrary registrations and presented URIs: the first byte
//! picks web or native, the rest is newline-separated, the last line presented. A match is
//! either exact or, for a native app, the same loopback URI on another port.
//! Seeds: `corpus/redirect_uri/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wissel_core::flows::authorize::redirect_uri_matches;
use wissel_core::model::ApplicationType;

/// `http://127.0.0.1` or `http://[::1]`, the port removed, when `uri` is such a loopback URI.
fn without_port(uri: &str) -> Option<String> {
    let (host, after) = ["http://127.0.0.1", "http://[::1]"]
        .iter()
        .find_map(|h| uri.strip_prefix(h).map(|rest| (*h, rest)))?;
    let after = match after.strip_prefix(':') {
        Some(p) => {
            let digits = p.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 5 {
                return None;
            }
            &p[digits..]
        }
        None => after,
    };
    (after.is_empty() || after.starts_with(['/', '?'])).then(|| format!("{host}{after}"))
}

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let app = if first % 2 == 0 {
        ApplicationType::Web
    } else {
        ApplicationType::Native
    };
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let Some(presented) = lines.pop() else {
        return;
    };
    if !redirect_uri_matches(&lines, &presented, app) {
        return;
    }
    assert!(!presented.contains('#'));
    if lines.contains(&presented) {
        return;
    }
    assert_eq!(app, ApplicationType::Native, "a web app matches exactly");
    let p = without_port(&presented);
    assert!(p.is_some(), "only a loopback URI matches on another port");
    assert!(
        lines.iter().any(|r| without_port(r) == p),
        "the same loopback URI apart from the port is registered"
    );
});
