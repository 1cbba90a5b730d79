//! The ECS instance RAM role, from the instance metadata service.
//!
//! Protocol (`credentials-go` `credentials/providers/ecs_ram_role.go`, hardened mode first):
//! 1. `PUT /latest/api/token` with `X-aliyun-ecs-metadata-token-ttl-seconds: 21600` returns a
//!    session token; if that fails the provider falls back to token-less (IMDSv1) requests,
//!    unless `ALIBABA_CLOUD_IMDSV1_DISABLED=true`;
//! 2. without a configured role name, `GET /latest/meta-data/ram/security-credentials/`
//!    returns the instance's role;
//! 3. `GET /latest/meta-data/ram/security-credentials/<role>` returns
//!    `{"Code": "Success", "AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration",
//!    "LastUpdated"}`.
//!
//! GETs carry the token in `X-aliyun-ecs-metadata-token`; a GET that fails with the token is
//! retried once without it when IMDSv1 is allowed (`getWithFallback` in the same file).
//!
//! The default chain only builds this provider when `ALIBABA_CLOUD_ECS_METADATA` names the role
//! (see [`super::chain`]), so a machine without credentials never calls the metadata address.

use std::sync::Arc;

use secrecy::SecretString;
use serde::Deserialize;
use tracing::debug;

use super::cache::{Cache, Expiring};
use super::context::Context;
use super::http::{self, Response};
use super::sts::parse_expiration;
use super::{CredentialError, Credentials, expose};
use crate::signing::v1::percent_encode;

/// Where the token comes from.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// The header asking for a token lifetime.
pub const TOKEN_TTL_HEADER: &str = "X-aliyun-ecs-metadata-token-ttl-seconds";
/// The header carrying the token.
pub const TOKEN_HEADER: &str = "X-aliyun-ecs-metadata-token";
/// Token lifetime asked for (`credentials-go`: `defaultMetadataTokenDuration`, 6 hours).
pub const TOKEN_TTL_SECONDS: u32 = 21_600;
/// The role list and, with the role appended, its credentials.
pub const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/";

const PROVIDER: &str = "ecs metadata";

/// Credentials of the instance's RAM role.
pub struct EcsRamRole {
    role_name: Option<String>,
    endpoint: String,
    imdsv1_disabled: bool,
    cache: Arc<Cache>,
    ctx: Arc<Context>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetadataCredentials {
    code: Option<String>,
    access_key_id: Option<String>,
    access_key_secret: Option<String>,
    security_token: Option<String>,
    expiration: Option<String>,
}

impl EcsRamRole {
    /// A provider for `role_name` (discovered when `None`) at `endpoint`.
    pub fn new(
        role_name: Option<String>,
        endpoint: String,
        imdsv1_disabled: bool,
        ctx: &Arc<Context>,
    ) -> Self {
        let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
        let key = format!("ecs_ram_role:{role_name:?}:{endpoint}:{imdsv1_disabled}");
        let cache = ctx.cache(
            &key,
            &format!(
                "ecs_ram_role {}",
                role_name.as_deref().unwrap_or("(discovered)")
            ),
        );
        EcsRamRole {
            role_name,
            endpoint,
            imdsv1_disabled,
            cache,
            ctx: ctx.clone(),
        }
    }

    /// Cached credentials, renewed before expiry.
    pub async fn resolve(&self) -> Result<Credentials, CredentialError> {
        self.cache.get(self.ctx.clock(), || self.fetch()).await
    }

    /// No secrets: the role (or "discovered"), the endpoint and the IMDSv1 setting.
    pub fn describe(&self) -> String {
        format!(
            "ecs_ram_role {} (metadata {}{})",
            self.role_name.as_deref().unwrap_or("(discovered)"),
            self.endpoint,
            if self.imdsv1_disabled {
                ", IMDSv1 fallback disabled"
            } else {
                ""
            }
        )
    }

    fn error(&self, message: String) -> CredentialError {
        self.error_with(message, false)
    }

    fn error_with(&self, message: String, transient: bool) -> CredentialError {
        CredentialError::Remote {
            provider: PROVIDER,
            endpoint: self.endpoint.clone(),
            message,
            transient,
        }
    }

    async fn token(&self) -> Result<Option<SecretString>, CredentialError> {
        let request = self
            .ctx
            .metadata_http()?
            .put(format!("{}{TOKEN_PATH}", self.endpoint))
            .header(TOKEN_TTL_HEADER, TOKEN_TTL_SECONDS.to_string());
        let limit = self.ctx.options().max_body_bytes;
        let failure = match http::send(request, PROVIDER, &self.endpoint, limit).await {
            Ok(Response { status: 200, body }) => {
                let token = String::from_utf8(body).unwrap_or_default();
                if !token.trim().is_empty() {
                    return Ok(Some(SecretString::from(token.trim())));
                }
                self.error(format!("{TOKEN_PATH}: empty token"))
            }
            Ok(r) => self.error(format!("{TOKEN_PATH}: HTTP {}", r.status)),
            Err(e) => e,
        };
        if self.imdsv1_disabled {
            return Err(self.error_with(
                format!("cannot get a metadata token and IMDSv1 is disabled: {failure}"),
                failure.is_transient(),
            ));
        }
        debug!(error = %failure, "no ECS metadata token; trying IMDSv1");
        Ok(None)
    }

    async fn get_once(
        &self,
        path: &str,
        token: Option<&SecretString>,
    ) -> Result<Response, CredentialError> {
        let mut request = self
            .ctx
            .metadata_http()?
            .get(format!("{}{path}", self.endpoint));
        if let Some(t) = token {
            request = request.header(TOKEN_HEADER, expose(t));
        }
        let response = http::send(
            request,
            PROVIDER,
            &self.endpoint,
            self.ctx.options().max_body_bytes,
        )
        .await?;
        if response.status == 200 {
            Ok(response)
        } else {
            Err(self.error_with(
                format!("{path}: HTTP {}", response.status),
                response.status >= 500,
            ))
        }
    }

    async fn get(
        &self,
        path: &str,
        token: Option<&SecretString>,
    ) -> Result<Vec<u8>, CredentialError> {
        match self.get_once(path, token).await {
            Ok(r) => Ok(r.body),
            // `getWithFallback`: retry once without the token; if that fails too, the first
            // error (with the token) is the informative one.
            Err(first) if token.is_some() && !self.imdsv1_disabled => self
                .get_once(path, None)
                .await
                .map(|r| r.body)
                .map_err(|_| first),
            Err(e) => Err(e),
        }
    }

    async fn fetch(&self) -> Result<Expiring, CredentialError> {
        let token = self.token().await?;
        let role = match &self.role_name {
            Some(r) => r.clone(),
            None => {
                let body = self.get(CREDENTIALS_PATH, token.as_ref()).await?;
                let text = String::from_utf8_lossy(&body);
                let role = text.lines().next().unwrap_or_default().trim().to_owned();
                if role.is_empty() {
                    return Err(self.error("no RAM role is attached to this instance".into()));
                }
                role
            }
        };
        // One token (valid six hours) serves both requests.
        let path = format!("{CREDENTIALS_PATH}{}", percent_encode(&role));
        let body = self.get(&path, token.as_ref()).await?;
        let parsed: MetadataCredentials = serde_json::from_slice(&body)
            .map_err(|_| self.error(format!("{path}: the answer is not a JSON document")))?;
        if parsed.code.as_deref() != Some("Success") {
            return Err(self.error(format!(
                "{path}: Code is {:?}, not \"Success\"",
                parsed
                    .code
                    .as_deref()
                    .map(http::clean_message)
                    .unwrap_or_default()
            )));
        }
        let (Some(id), Some(secret), Some(token), Some(expiration)) = (
            parsed.access_key_id,
            parsed.access_key_secret,
            parsed.security_token,
            parsed.expiration,
        ) else {
            return Err(self.error(format!("{path}: credentials are incomplete")));
        };
        Ok(Expiring {
            expiration: parse_expiration(&expiration).map_err(|e| self.error(e))?,
            credentials: Credentials {
                access_key_id: id,
                access_key_secret: SecretString::from(secret),
                security_token: Some(SecretString::from(token)),
            },
        })
    }
}
