//! The OAuth form parser (token, introspection, revocation, PAR-less browser forms) on
//! arbitrary bytes: it either parses or refuses with `invalid_request`, and never exceeds its
//! bounds. Seeds: `corpus/oauth_form/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wissel_core::ErrorCode;
use wissel_http::form::{MAX_PARAMS, MAX_VALUE_LEN, OAuthForm, ParamList};

fuzz_target!(|data: &[u8]| {
    match OAuthForm::parse(data) {
        Ok(form) => {
            for name in ["grant_type", "scope", "client_id", "resource", "audience"] {
                assert!(
                    form.get(name)
                        .is_none_or(|v| !v.is_empty() && v.len() <= MAX_VALUE_LEN)
                );
                assert!(form.all(name).len() <= MAX_PARAMS);
            }
        }
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            assert!(e.description.len() <= 80);
        }
    }
    if let Some(list) = ParamList::parse(data) {
        assert!(list.pairs().len() <= MAX_PARAMS);
        assert!(
            list.pairs()
                .iter()
                .all(|(_, v)| !v.is_empty() && v.len() <= MAX_VALUE_LEN)
        );
    }
});
