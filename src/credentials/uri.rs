//! Credentials from a URI (`ALIBABA_CLOUD_CREDENTIALS_URI`, `type: uri`).
//!
//! `GET <uri>` must answer HTTP 200 with `{"Code": "Success", "AccessKeyId",
//! "AccessKeySecret", "SecurityToken", "Expiration"}` (`credentials-python`
//! `alibabacloud_credentials/provider/uri.py`, which also requires `Code`; `credentials-go`
//! `uri.go` ignores it, so an absent `Code` is accepted here, any other value refused).
//! The URI may hold a token in its query: descriptions and errors show the query keys only.

use std::sync::Arc;

use secrecy::SecretString;
use serde::Deserialize;

use super::cache::{Cache, Expiring};
use super::context::Context;
use super::http::{self, display_url};
use super::sts::parse_expiration;
use super::{CredentialError, Credentials};

const PROVIDER: &str = "credentials uri";

/// Credentials served by a URI.
pub struct CredentialsUri {
    uri: String,
    cache: Arc<Cache>,
    ctx: Arc<Context>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UriCredentials {
    code: Option<String>,
    access_key_id: Option<String>,
    access_key_secret: Option<String>,
    security_token: Option<String>,
    expiration: Option<String>,
}

impl CredentialsUri {
    /// A provider for `uri` (an http(s) URL, checked by the caller).
    pub fn new(uri: String, ctx: &Arc<Context>) -> Self {
        let cache = ctx.cache(&format!("uri:{uri}"), &format!("uri {}", display_url(&uri)));
        CredentialsUri {
            uri,
            cache,
            ctx: ctx.clone(),
        }
    }

    /// Cached credentials, renewed before expiry.
    pub async fn resolve(&self) -> Result<Credentials, CredentialError> {
        self.cache.get(self.ctx.clock(), || self.fetch()).await
    }

    /// The URI without user info or query values, and a fingerprint of the whole URI so that
    /// two URIs that differ only in a query value describe differently.
    pub fn describe(&self) -> String {
        use sha1::Digest as _;
        let digest = sha1::Sha1::digest(self.uri.as_bytes());
        let shown = display_url(&self.uri);
        if shown.contains("***") {
            format!(
                "uri {shown} (#{:02x}{:02x}{:02x}{:02x})",
                digest[0], digest[1], digest[2], digest[3]
            )
        } else {
            format!("uri {shown}")
        }
    }

    async fn fetch(&self) -> Result<Expiring, CredentialError> {
        let shown = display_url(&self.uri);
        let error = |message: String| CredentialError::Remote {
            provider: PROVIDER,
            endpoint: shown.clone(),
            message,
            transient: false,
        };
        let request = self.ctx.http(PROVIDER)?.get(&self.uri);
        let response =
            http::send(request, PROVIDER, &shown, self.ctx.options().max_body_bytes).await?;
        if response.status != 200 {
            return Err(CredentialError::Remote {
                provider: PROVIDER,
                endpoint: shown,
                message: format!("HTTP {}", response.status),
                transient: response.status >= 500,
            });
        }
        let parsed: UriCredentials = serde_json::from_slice(&response.body)
            .map_err(|_| error("the answer is not a JSON document".into()))?;
        if let Some(code) = parsed.code.as_deref().filter(|c| *c != "Success") {
            return Err(error(format!(
                "Code is {:?}, not \"Success\"",
                http::clean_message(code)
            )));
        }
        let (Some(id), Some(secret), Some(token), Some(expiration)) = (
            parsed.access_key_id,
            parsed.access_key_secret,
            parsed.security_token,
            parsed.expiration,
        ) else {
            return Err(error(
                "AccessKeyId, AccessKeySecret, SecurityToken and Expiration are all required"
                    .into(),
            ));
        };
        Ok(Expiring {
            expiration: parse_expiration(&expiration).map_err(error)?,
            credentials: Credentials {
                access_key_id: id,
                access_key_secret: SecretString::from(secret),
                security_token: Some(SecretString::from(token)),
            },
        })
    }
}
