//! The STS client (API version 2015-04-01): `AssumeRole` for `type: ram_role_arn` and the CLI
//! and INI role profiles, `AssumeRoleWithOIDC` for `type: oidc_role_arn` and ACK RRSA.
//!
//! Request shape, as `credentials-go` `credentials/providers/ram_role_arn.go` and `oidc.go`
//! send it: `POST https://<endpoint>/?<common parameters>` with the action's own parameters
//! (`RoleArn`, `RoleSessionName`, `DurationSeconds`, `ExternalId`, `Policy`, and for OIDC
//! `OIDCProviderArn`, `OIDCToken`) as an `application/x-www-form-urlencoded` body.
//! `AssumeRole` is signed with RPC signature v1 over query and body parameters together
//! (cams-api.md §2, [`crate::signing::v1`]); `AssumeRoleWithOIDC` is anonymous: the OIDC
//! token is the proof (STS API page "AssumeRoleWithOIDC").
//!
//! Response: `{"RequestId", "AssumedRoleUser": {...}, "Credentials": {"AccessKeyId",
//! "AccessKeySecret", "SecurityToken", "Expiration": "2015-04-09T11:52:19Z"}}`; errors are
//! `{"RequestId", "HostId", "Code", "Message", "Recommend"}` with a 4xx/5xx status.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use serde::Deserialize;

use super::cache::{Cache, Expiring};
use super::context::{Context, DEFAULT_STS_ENDPOINT};
use super::http::{self, clean_message};
use super::{CredentialError, CredentialSource, Credentials, Env, expose};
use crate::signing::v1::{self as signing, CommonParams};

/// STS API version.
pub const STS_VERSION: &str = "2015-04-01";
/// Default `DurationSeconds` (`credentials-go`: 3600).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(3600);
/// Shortest session STS accepts (`credentials-go`: "in the range of 900s - max session duration").
pub const MIN_DURATION: Duration = Duration::from_secs(900);
/// Longest session STS accepts (a role's `MaxSessionDuration` is at most 12 hours).
pub const MAX_DURATION: Duration = Duration::from_secs(43_200);
/// Default `RoleSessionName`: shows in ActionTrail which program assumed the role.
pub const DEFAULT_SESSION_NAME: &str = "chatapp-exporter";

const PROVIDER: &str = "sts";

/// Picks the STS endpoint: an explicit one, else the context's override (tests), else
/// `sts[-vpc].<region>.aliyuncs.com` from the profile's or `ALIBABA_CLOUD_STS_REGION`'s region,
/// else `sts.aliyuncs.com` (`credentials-go` `ram_role_arn.go` `Build`).
pub fn endpoint(
    explicit: Option<&str>,
    region: Option<&str>,
    vpc: bool,
    env: Env<'_>,
    ctx: &Context,
) -> String {
    if let Some(e) = explicit.filter(|e| !e.trim().is_empty()) {
        return normalize_endpoint(e);
    }
    if let Some(e) = &ctx.options().sts_endpoint {
        return normalize_endpoint(e);
    }
    let vpc = vpc || super::env_flag(env, super::ENV_VPC_ENDPOINT_ENABLED);
    let region = region
        .filter(|r| !r.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| super::env_var(env, super::ENV_STS_REGION));
    match region {
        Some(r) => format!(
            "https://{}.{}.aliyuncs.com",
            if vpc { "sts-vpc" } else { "sts" },
            r.trim()
        ),
        None => DEFAULT_STS_ENDPOINT.into(),
    }
}

/// `sts.cn-hangzhou.aliyuncs.com` → `https://sts.cn-hangzhou.aliyuncs.com`; a URL is kept,
/// without a trailing `/`.
pub fn normalize_endpoint(e: &str) -> String {
    let e = e.trim().trim_end_matches('/');
    if e.contains("://") {
        e.to_owned()
    } else {
        format!("https://{e}")
    }
}

/// Checks a `RoleSessionName`: 2 to 64 of `A-Z a-z 0-9 . @ - _` (STS API page "AssumeRole").
pub fn check_session_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'));
    if (2..=64).contains(&name.len()) && ok_chars {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be 2 to 64 characters of letters, digits and . @ - _"
        ))
    }
}

/// Checks a `DurationSeconds`.
pub fn check_duration(d: Duration) -> Result<(), String> {
    if d < MIN_DURATION || d > MAX_DURATION || d.subsec_nanos() != 0 {
        return Err(format!(
            "{} must be whole seconds between 15m and 12h",
            humantime::format_duration(d)
        ));
    }
    Ok(())
}

/// What to ask STS for, shared by both actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    /// `acs:ram::<uid>:role/<name>`.
    pub role_arn: String,
    /// `RoleSessionName`.
    pub session_name: String,
    /// `DurationSeconds`.
    pub duration: Duration,
    /// `ExternalId` (AssumeRole only): guards against the confused deputy, not a secret.
    pub external_id: Option<String>,
    /// A session policy narrowing the role (from CLI/INI profiles).
    pub policy: Option<String>,
    /// The STS base URL.
    pub endpoint: String,
}

impl Role {
    fn describe(&self) -> String {
        let mut s = format!(
            "session {}, duration {}s",
            self.session_name,
            self.duration.as_secs()
        );
        if let Some(e) = &self.external_id {
            s.push_str(&format!(", external id {e}"));
        }
        if let Some(p) = &self.policy {
            s.push_str(&format!(", policy {p}"));
        }
        s.push_str(&format!(", sts {}", self.endpoint));
        s
    }

    fn form(&self) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert("RoleArn".into(), self.role_arn.clone());
        p.insert("RoleSessionName".into(), self.session_name.clone());
        p.insert(
            "DurationSeconds".into(),
            self.duration.as_secs().to_string(),
        );
        if let Some(policy) = &self.policy {
            p.insert("Policy".into(), policy.clone());
        }
        p
    }
}

/// A signed `AssumeRole` request: the query string (common parameters and `Signature`) and
/// the form body. Pure, for tests.
pub fn assume_role_request(
    role: &Role,
    base: &Credentials,
    timestamp: &str,
    nonce: &str,
) -> (String, String) {
    let common = CommonParams {
        action: "AssumeRole",
        version: STS_VERSION,
        access_key_id: &base.access_key_id,
        timestamp,
        nonce,
        security_token: base.security_token.as_ref().map(expose),
    }
    .into_params();
    let mut form = role.form();
    if let Some(e) = &role.external_id {
        form.insert("ExternalId".into(), e.clone());
    }
    let mut all = common.clone();
    all.extend(form.iter().map(|(k, v)| (k.clone(), v.clone())));
    let signed = signing::sign("POST", &all, expose(&base.access_key_secret));
    let query = format!(
        "{}&Signature={}",
        pairs(&common),
        signing::percent_encode(&signed.signature)
    );
    (query, pairs(&form))
}

/// An `AssumeRoleWithOIDC` request: query and form body. Pure, for tests.
pub fn assume_role_with_oidc_request(
    role: &Role,
    oidc_provider_arn: &str,
    oidc_token: &str,
    timestamp: &str,
) -> (String, String) {
    let mut query = BTreeMap::new();
    query.insert("Action".to_string(), "AssumeRoleWithOIDC".to_string());
    query.insert("Format".into(), "JSON".into());
    query.insert("Timestamp".into(), timestamp.into());
    query.insert("Version".into(), STS_VERSION.into());
    let mut form = role.form();
    form.insert("OIDCProviderArn".into(), oidc_provider_arn.into());
    form.insert("OIDCToken".into(), oidc_token.into());
    (pairs(&query), pairs(&form))
}

fn pairs(params: &BTreeMap<String, String>) -> String {
    signing::canonicalized_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsResponse {
    request_id: Option<String>,
    code: Option<String>,
    message: Option<String>,
    credentials: Option<StsCredentials>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// Parses an `Expiration` such as `2015-04-09T11:52:19Z`.
pub(crate) fn parse_expiration(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(s.trim()).map_err(|e| format!("bad Expiration {s:?}: {e}"))
}

/// Turns an STS answer into credentials or an error naming the STS `Code` (pure).
pub fn parse_response(
    status: u16,
    body: &[u8],
    endpoint: &str,
) -> Result<Expiring, CredentialError> {
    let remote = |message: String| CredentialError::Remote {
        provider: PROVIDER,
        endpoint: endpoint.to_owned(),
        message,
        transient: false,
    };
    let parsed: StsResponse = serde_json::from_slice(body).map_err(|_| {
        remote(format!(
            "HTTP {status}: the answer is not an STS JSON document"
        ))
    })?;
    match parsed.credentials {
        Some(c) if status == 200 => Ok(Expiring {
            expiration: parse_expiration(&c.expiration).map_err(remote)?,
            credentials: Credentials {
                access_key_id: c.access_key_id,
                access_key_secret: SecretString::from(c.access_key_secret),
                security_token: Some(SecretString::from(c.security_token)),
            },
        }),
        _ => Err(CredentialError::Remote {
            provider: PROVIDER,
            endpoint: endpoint.to_owned(),
            // Throttling and server trouble pass; everything else needs the operator
            // (cams-api.md §6 lists the same codes for CAMS).
            transient: status >= 500
                || status == 429
                || parsed.code.as_deref().is_some_and(|c| {
                    c.starts_with("Throttling")
                        || matches!(
                            c,
                            "System.LimitControl" | "ServiceUnavailable" | "InternalError"
                        )
                }),
            message: format!(
                "HTTP {status}: {}: {} (RequestId {})",
                parsed
                    .code
                    .as_deref()
                    .map(clean_message)
                    .unwrap_or_else(|| "no Code".into()),
                parsed
                    .message
                    .as_deref()
                    .map(clean_message)
                    .unwrap_or_default(),
                parsed
                    .request_id
                    .as_deref()
                    .map(clean_message)
                    .unwrap_or_default()
            ),
        }),
    }
}

async fn call(
    ctx: &Context,
    endpoint: &str,
    query: &str,
    body: String,
) -> Result<Expiring, CredentialError> {
    let url = format!("{endpoint}/?{query}");
    let request = ctx
        .http(PROVIDER)?
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept-encoding", "identity")
        .body(body);
    let response = http::send(request, PROVIDER, endpoint, ctx.options().max_body_bytes).await?;
    parse_response(response.status, &response.body, endpoint)
}

fn timestamp(ctx: &Context) -> String {
    humantime::format_rfc3339_seconds(ctx.clock().now()).to_string()
}

/// Temporary credentials from `AssumeRole`, signed with another source's key.
pub struct RamRoleArn {
    base: CredentialSource,
    role: Role,
    cache: Arc<Cache>,
    ctx: Arc<Context>,
}

impl RamRoleArn {
    /// A provider assuming `role` with the key from `base`, sharing its cache with every
    /// other provider of the same configuration in `ctx`.
    pub fn new(base: CredentialSource, role: Role, ctx: &Arc<Context>) -> Self {
        let key = format!("ram_role_arn:{:?}:{}", role, base.cache_key());
        let cache = ctx.cache(&key, &format!("ram_role_arn {}", role.role_arn));
        RamRoleArn {
            base,
            role,
            cache,
            ctx: ctx.clone(),
        }
    }

    /// Cached credentials, renewed before expiry.
    pub async fn resolve(&self) -> Result<Credentials, CredentialError> {
        self.cache.get(self.ctx.clock(), || self.fetch()).await
    }

    async fn fetch(&self) -> Result<Expiring, CredentialError> {
        let base = self.base.resolve_boxed().await?;
        let nonce = format!("{:032x}", rand::random::<u128>());
        let (query, body) = assume_role_request(&self.role, &base, &timestamp(&self.ctx), &nonce);
        call(&self.ctx, &self.role.endpoint, &query, body).await
    }

    /// See [`CredentialSource::identity`]: the role and the base key's full identity.
    pub(crate) fn identity(&self) -> String {
        format!("ram_role_arn:{:?}:{}", self.role, self.base.identity())
    }

    /// No secrets: the role, its settings and where the base key comes from.
    pub fn describe(&self) -> String {
        format!(
            "ram_role_arn {} ({}) with {}",
            self.role.role_arn,
            self.role.describe(),
            self.base.describe()
        )
    }
}

/// Temporary credentials from `AssumeRoleWithOIDC`, with a token file re-read at every
/// renewal (ACK rotates it).
pub struct OidcRoleArn {
    role: Role,
    oidc_provider_arn: String,
    oidc_token_file: PathBuf,
    cache: Arc<Cache>,
    ctx: Arc<Context>,
}

impl OidcRoleArn {
    /// A provider assuming `role` with the OIDC token in `oidc_token_file`.
    pub fn new(
        role: Role,
        oidc_provider_arn: String,
        oidc_token_file: PathBuf,
        ctx: &Arc<Context>,
    ) -> Self {
        let key = format!(
            "oidc_role_arn:{:?}:{oidc_provider_arn}:{}",
            role,
            oidc_token_file.display()
        );
        let cache = ctx.cache(&key, &format!("oidc_role_arn {}", role.role_arn));
        OidcRoleArn {
            role,
            oidc_provider_arn,
            oidc_token_file,
            cache,
            ctx: ctx.clone(),
        }
    }

    /// Cached credentials, renewed before expiry.
    pub async fn resolve(&self) -> Result<Credentials, CredentialError> {
        self.cache.get(self.ctx.clock(), || self.fetch()).await
    }

    async fn fetch(&self) -> Result<Expiring, CredentialError> {
        let token = super::read_secret_file(&self.oidc_token_file, "oidc_token").await?;
        let (query, body) = assume_role_with_oidc_request(
            &self.role,
            &self.oidc_provider_arn,
            expose(&token),
            &timestamp(&self.ctx),
        );
        call(&self.ctx, &self.role.endpoint, &query, body).await
    }

    /// No secrets: the role, the identity provider, the token file and the settings.
    pub fn describe(&self) -> String {
        format!(
            "oidc_role_arn {} (provider {}, token from {}, {})",
            self.role.role_arn,
            self.oidc_provider_arn,
            self.oidc_token_file.display(),
            self.role.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> Role {
        Role {
            role_arn: "acs:ram::123:role/monitor".into(),
            session_name: DEFAULT_SESSION_NAME.into(),
            duration: DEFAULT_DURATION,
            external_id: Some("ext-1".into()),
            policy: None,
            endpoint: "https://sts.aliyuncs.com".into(),
        }
    }

    #[test]
    fn assume_role_signature_covers_query_and_body() {
        let base = Credentials {
            access_key_id: "LTAI5tBaseKeyId".into(),
            access_key_secret: SecretString::from("base-secret"),
            security_token: None,
        };
        let (query, body) = assume_role_request(&role(), &base, "2024-01-01T00:00:00Z", "n1");
        let mut params: BTreeMap<String, String> = signing::parse_query(&query)
            .into_iter()
            .chain(signing::parse_query(&body))
            .collect();
        let signature = params.remove("Signature").unwrap();
        assert_eq!(params["Action"], "AssumeRole");
        assert_eq!(params["Version"], STS_VERSION);
        assert_eq!(params["ExternalId"], "ext-1");
        assert!(!query.contains("RoleArn"), "role parameters go in the body");
        let sts = signing::string_to_sign("POST", &params);
        assert_eq!(signing::sign_string("base-secret", &sts), signature);
    }

    #[test]
    fn oidc_request_is_unsigned_and_carries_the_token_in_the_body() {
        let (query, body) = assume_role_with_oidc_request(
            &role(),
            "acs:ram::123:oidc-provider/ack",
            "jwt.x.y",
            "t",
        );
        assert!(
            !query.contains("Signature") && !query.contains("jwt"),
            "{query}"
        );
        assert!(body.contains("OIDCToken=jwt.x.y"), "{body}");
        assert!(!body.contains("ExternalId"), "{body}");
    }

    #[test]
    fn endpoint_precedence() {
        let ctx = Context::new(Default::default());
        let none = |_: &str| None;
        assert_eq!(
            endpoint(None, None, false, &none, &ctx),
            "https://sts.aliyuncs.com"
        );
        assert_eq!(
            endpoint(
                Some("sts.cn-shanghai.aliyuncs.com"),
                None,
                false,
                &none,
                &ctx
            ),
            "https://sts.cn-shanghai.aliyuncs.com"
        );
        let env = |k: &str| match k {
            "ALIBABA_CLOUD_STS_REGION" => Some("ap-southeast-1".to_string()),
            "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED" => Some("true".to_string()),
            _ => None,
        };
        assert_eq!(
            endpoint(None, None, false, &env, &ctx),
            "https://sts-vpc.ap-southeast-1.aliyuncs.com"
        );
        assert_eq!(
            endpoint(None, Some("cn-beijing"), false, &none, &ctx),
            "https://sts.cn-beijing.aliyuncs.com"
        );
    }

    #[test]
    fn error_answers_name_the_code_and_never_echo_a_string_to_sign() {
        let body = br#"{"RequestId":"r1","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&SecurityToken%3Dsecret-token"}"#;
        let e = parse_response(400, body, "https://sts.aliyuncs.com")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("SignatureDoesNotMatch") && e.contains("r1"),
            "{e}"
        );
        assert!(!e.contains("secret-token"), "{e}");
    }

    #[test]
    fn session_name_and_duration_rules() {
        assert!(check_session_name("chatapp-exporter").is_ok());
        assert!(check_session_name("a").is_err());
        assert!(check_session_name("has space").is_err());
        assert!(check_duration(Duration::from_secs(899)).is_err());
        assert!(check_duration(Duration::from_secs(3600)).is_ok());
        assert!(check_duration(Duration::from_secs(43_201)).is_err());
    }
}
