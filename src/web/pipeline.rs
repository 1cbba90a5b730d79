//! The per-request pipeline, in this order: `rate_limit` (429), basic auth (401 with
//! `WWW-Authenticate: Basic`), `--web.max-requests` (503, never queued), then the router;
//! every response, refusals included, gets the configured `http_server_config.headers`.
//!
//! The `--web.max-requests` slot is taken after authentication, so that requests with wrong
//! or missing credentials never hold one (nor wait for bcrypt while holding one): a scraper
//! whose credentials are verified is refused only when other authenticated requests fill
//! every slot. The slot is held until the response body has been sent (see `clock`), so
//! the limit also bounds the responses that clients which do not read keep in memory.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;
use tower::ServiceExt as _;

use crate::web::clock::{Held, InFlight};
use crate::web::limits::{RateLimiter, RequestLimiter};
use crate::web::loaded::Active;
use crate::web::reload::Reloader;

/// Everything a request needs; one per server, shared by its connections.
pub(crate) struct Handler {
    pub(crate) router: Router,
    /// `None` without `--web.config.file`: then `fixed` (no TLS, auth or headers) applies.
    pub(crate) reloader: Option<Arc<Reloader>>,
    pub(crate) fixed: Arc<Active>,
    pub(crate) limiter: RequestLimiter,
    pub(crate) rate_limit: Option<RateLimiter>,
}

impl Handler {
    /// The settings for this connection or request (reloaded first if a file changed).
    pub(crate) fn active(&self) -> Arc<Active> {
        match &self.reloader {
            Some(r) => r.current(),
            None => self.fixed.clone(),
        }
    }

    /// Answers one request; the response body holds `in_flight` (and the request's slot
    /// under `--web.max-requests`, if it got one) until it has been sent.
    pub(crate) async fn handle(&self, req: Request<Incoming>, in_flight: InFlight) -> Response {
        let active = self.active();
        let (mut response, permit) = self.respond(req, &active).await;
        for (name, value) in &active.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response.map(|body| Body::new(Held::new(body, in_flight, permit)))
    }

    async fn respond(
        &self,
        req: Request<Incoming>,
        active: &Active,
    ) -> (Response, Option<OwnedSemaphorePermit>) {
        if let Some(rl) = &self.rate_limit
            && !rl.allow()
        {
            let refused = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n");
            return (refused.into_response(), None);
        }
        if let Some(auth) = &active.auth
            && !auth.verify(req.headers().get(header::AUTHORIZATION)).await
        {
            let refused = (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic")],
                "Unauthorized\n",
            );
            return (refused.into_response(), None);
        }
        let Some(permit) = self.limiter.try_acquire() else {
            let refused = (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "Too many concurrent requests (--web.max-requests)\n",
            );
            return (refused.into_response(), None);
        };
        match self.router.clone().oneshot(req.map(Body::new)).await {
            Ok(r) => (r, permit),
            Err(never) => match never {},
        }
    }
}
