//! The tower layer: validate the bearer token before the inner service sees the request.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    http::{HeaderMap, Request, Response},
};
use tower::{Layer, Service};

use crate::{Principal, ValidationError, Validator};

/// Requires a valid bearer token (and, optionally, scopes) on every request; puts the
/// [`Principal`] into the request's extensions, or answers the [`ValidationError`] response.
///
/// Works with `axum::Router::layer` and `route_layer`.
#[derive(Clone, Debug)]
pub struct BearerLayer {
    validator: Validator,
    scopes: Arc<[String]>,
    realm: Option<Arc<str>>,
}

impl BearerLayer {
    /// A layer that accepts any valid token for the validator's audience.
    pub fn new(validator: impl Into<Validator>) -> Self {
        Self {
            validator: validator.into(),
            scopes: Arc::new([]),
            realm: None,
        }
    }

    /// Also requires `scope` (every scope required so far, that is).
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        let mut scopes = self.scopes.to_vec();
        scopes.push(scope.into());
        self.scopes = scopes.into();
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenge; by default the validator's audience.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into().into());
        self
    }

    async fn check(&self, headers: &HeaderMap) -> Result<Principal, ValidationError> {
        let principal = self.validator.authenticate(headers).await?;
        if self.scopes.iter().all(|scope| principal.has_scope(scope)) {
            Ok(principal)
        } else {
            Err(ValidationError::InsufficientScope(self.scopes.join(" ")))
        }
    }

    fn refuse(&self, error: &ValidationError) -> Response<Body> {
        let realm = self
            .realm
            .as_deref()
            .unwrap_or_else(|| self.validator.audience());
        error.to_response(Some(realm))
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`BearerLayer`].
#[derive(Clone, Debug)]
pub struct BearerService<S> {
    inner: S,
    layer: BearerLayer,
}

impl<S, B> Service<Request<B>> for BearerService<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is not ready; the one that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            match layer.check(request.headers()).await {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(error) => Ok(layer.refuse(&error)),
            }
        })
    }
}
