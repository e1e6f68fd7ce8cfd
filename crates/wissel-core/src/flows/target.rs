//! Which API a token request is for: `audience` (the API id, RFC 8693) or `resource` (one of its
//! resource URIs, RFC 8707).

use std::sync::Arc;

use crate::OAuthError;
use crate::model::{Api, Registry};

/// Resolves the API named by `audience` and `resource` values. Every value given must name the
/// same API; when none is given and the client is linked to exactly one API, that API is meant.
pub fn resolve_api(
    registry: &Registry,
    client_id: &str,
    audience: &[String],
    resource: &[String],
) -> Result<Arc<Api>, OAuthError> {
    let mut chosen: Option<&Arc<Api>> = None;
    let named = audience.iter().map(|a| registry.api(a).ok_or(a)).chain(
        resource
            .iter()
            .map(|r| registry.api_by_resource(r).ok_or(r)),
    );
    for api in named {
        let api = api.map_err(|_| OAuthError::invalid_target("unknown audience or resource"))?;
        match chosen {
            Some(prev) if prev.id != api.id => {
                return Err(OAuthError::invalid_target(
                    "audience and resource name different APIs; one token serves one API",
                ));
            }
            _ => chosen = Some(api),
        }
    }
    let api = match chosen {
        Some(api) => api.clone(),
        None => {
            let mut links = registry.links_of(client_id);
            match (links.next(), links.next()) {
                (Some(only), None) => registry
                    .api(&only.api)
                    .cloned()
                    .ok_or_else(|| OAuthError::invalid_target("the linked API does not exist"))?,
                _ => {
                    return Err(OAuthError::invalid_target(
                        "name the API with the audience or resource parameter",
                    ));
                }
            }
        }
    };
    if api.disabled {
        return Err(OAuthError::invalid_target("the API is disabled"));
    }
    if registry.link(client_id, &api.id).is_none() {
        return Err(OAuthError::invalid_target(
            "this client is not linked to the requested API",
        ));
    }
    Ok(api)
}
