//! A simulated CAMS API on loopback: it speaks the real wire protocol (POST `/?<signed
//! query>`), checks every request's signature, nonce, timestamp and common parameters the
//! way the gateway does, and answers with the real success and error documents. A request
//! with an `Authorization: ACS3-HMAC-SHA256 ...` header is verified as Signature V3 by
//! [`v3`], an implementation of its own (not the client's signer); any other as RPC v1.
//!
//! It knows the operations from the collector registry ([`crate::collect::operation`]): an
//! action no collector declares is `InvalidApi.NotFound`, a missing required parameter is
//! `MissingParameter`, and only then is the backend asked. `--demo` runs it with the
//! [`demo::DemoFleet`] backend; the integration tests run it with scripted backends. It only
//! ever binds loopback addresses.

pub mod demo;
pub mod v3;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tokio::net::TcpListener;

use crate::api::signing;

/// How far a request's `Timestamp` may be from the simulator's clock.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// How many nonces the simulator remembers to detect reuse.
const NONCES_REMEMBERED: usize = 100_000;
/// How many verified requests [`Simulator::requests`] keeps, newest last: a long `--demo`
/// makes several requests a second, and the log must not grow with its lifetime.
pub const REQUESTS_REMEMBERED: usize = 10_000;

pub use crate::collect::demo::{Reply, SimRequest, SimResponse, StreamedBody, request_id};

/// Produces the answers to verified requests.
pub trait Backend: Send + Sync + 'static {
    /// Answers one request (signature already verified).
    fn respond(&self, request: &SimRequest) -> SimResponse;

    /// The reply to one request: [`Backend::respond`]'s answer, unless the backend streams
    /// large bodies ([`Reply::Streamed`]), as the demo's phone-number list does.
    fn reply(&self, request: &SimRequest) -> Reply {
        Reply::Response(self.respond(request))
    }
}

/// An AccessKey the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimKey {
    /// AccessKey secret.
    pub secret: String,
    /// Required `SecurityToken`, for STS keys.
    pub security_token: Option<String>,
}

struct SimState {
    backend: Arc<dyn Backend>,
    keys: HashMap<String, SimKey>,
    nonces: Mutex<(HashSet<String>, VecDeque<String>)>,
    log: Mutex<VecDeque<SimRequest>>,
}

/// A running simulator.
#[derive(Clone)]
pub struct Simulator {
    state: Arc<SimState>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Simulator {
    /// Binds `127.0.0.1:0` and serves `backend` in a background task.
    pub async fn start(
        backend: Arc<dyn Backend>,
        keys: HashMap<String, SimKey>,
    ) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState {
            backend,
            keys,
            nonces: Mutex::default(),
            log: Mutex::default(),
        });
        let app = Router::new()
            .route("/", any(handle))
            .with_state(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(Simulator { state, addr })
    }

    /// The base URL to use as an account endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The verified requests so far, oldest first: the last [`REQUESTS_REMEMBERED`].
    pub fn requests(&self) -> Vec<SimRequest> {
        self.state
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

impl SimState {
    /// Adds `request` to the log, forgetting the oldest beyond [`REQUESTS_REMEMBERED`].
    fn remember(&self, request: &SimRequest) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() >= REQUESTS_REMEMBERED {
            log.pop_front();
        }
        log.push_back(request.clone());
    }
}

/// A 200 whose JSON body is sent chunk by chunk as it is produced.
fn streamed_response(streamed: StreamedBody) -> Response {
    let chunks = streamed
        .chunks
        .map(|c| Ok::<_, std::convert::Infallible>(bytes::Bytes::from(c)));
    let mut response =
        axum::body::Body::from_stream(futures_util::stream::iter(chunks)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, streamed.len.into());
    response
}

async fn handle(
    State(state): State<Arc<SimState>>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let response = match verify(
        &state,
        method.as_str(),
        uri.path(),
        query.as_deref().unwrap_or(""),
        &headers,
        &body,
    ) {
        Ok(request) => {
            state.remember(&request);
            match state.backend.reply(&request) {
                Reply::Response(r) => r,
                Reply::Streamed(streamed) => return streamed_response(streamed),
            }
        }
        Err(e) => e,
    };
    if !response.delay.is_zero() {
        tokio::time::sleep(response.delay).await;
    }
    (
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        response.body,
    )
        .into_response()
}

/// Checks the method, then verifies the request as V3 if it carries V3's headers
/// ([`v3::is_v3`]), else as RPC v1.
fn verify(
    state: &SimState,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<SimRequest, SimResponse> {
    if method != "POST" && method != "GET" {
        return Err(SimResponse::error(
            400,
            "UnsupportedHTTPMethod",
            "This http method is not supported.",
        ));
    }
    if v3::is_v3(headers) {
        v3::verify(state, SystemTime::now(), method, path, query, headers, body)
    } else {
        verify_v1(state, method, query)
    }
}

/// Records `nonce`, or fails with `SignatureNonceUsed` if it was seen among the last
/// [`NONCES_REMEMBERED`] (v1's `SignatureNonce` and V3's `x-acs-signature-nonce` alike).
fn remember_nonce(state: &SimState, nonce: &str) -> Result<(), SimResponse> {
    let mut nonces = state.nonces.lock().unwrap_or_else(PoisonError::into_inner);
    let nonce = nonce.to_owned();
    if !nonces.0.insert(nonce.clone()) {
        return Err(SimResponse::error(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    nonces.1.push_back(nonce);
    if nonces.1.len() > NONCES_REMEMBERED
        && let Some(old) = nonces.1.pop_front()
    {
        nonces.0.remove(&old);
    }
    Ok(())
}

/// The gateway's RPC v1 checks, in the gateway's order, with its error codes (cams-api.md §6).
fn verify_v1(state: &SimState, method: &str, query: &str) -> Result<SimRequest, SimResponse> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in signing::parse_query(query) {
        params.insert(k, v);
    }
    let signature = v1_common_parameters(&mut params)?;
    v1_versions_and_format(&params)?;
    let key = known_key(state, param(&params, "AccessKeyId"))?;
    fresh_timestamp(
        humantime::parse_rfc3339(param(&params, "Timestamp")).ok(),
        SystemTime::now(),
    )?;
    let string_to_sign = signing::string_to_sign(method, &params);
    if signing::sign_string(&key.secret, &string_to_sign) != signature {
        return Err(signature_mismatch(&string_to_sign));
    }
    known_operation_with_parameters(param(&params, "Action"), &params)?;
    matching_security_token(key, params.get("SecurityToken").map(String::as_str))?;
    remember_nonce(state, param(&params, "SignatureNonce"))?;
    Ok(SimRequest {
        method: method.to_owned(),
        action: param(&params, "Action").to_owned(),
        params,
        signature: "v1",
    })
}

/// The value of v1 parameter `name`, empty when absent.
fn param<'a>(params: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or("")
}

/// The v1 common parameters: takes `Signature` out of `params` (it is not signed) and
/// returns it, once every other common parameter is known to be there.
fn v1_common_parameters(params: &mut BTreeMap<String, String>) -> Result<String, SimResponse> {
    let signature = params.remove("Signature");
    for required in [
        "AccessKeyId",
        "Action",
        "Format",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "Timestamp",
        "Version",
    ] {
        if !params.contains_key(required) {
            return Err(missing_parameter(required));
        }
    }
    signature.ok_or_else(|| {
        SimResponse::error(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    })
}

/// The API version, the signature method and version, and the response format v1 names.
fn v1_versions_and_format(params: &BTreeMap<String, String>) -> Result<(), SimResponse> {
    let p = |k: &str| param(params, k);
    if p("Version") != "2020-06-06" {
        return Err(SimResponse::error(
            404,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    if p("SignatureMethod") != "HMAC-SHA1" || p("SignatureVersion") != "1.0" {
        return Err(SimResponse::error(
            400,
            "InvalidParameter",
            "SignatureMethod/SignatureVersion not supported.",
        ));
    }
    if !p("Format").eq_ignore_ascii_case("JSON") {
        return Err(SimResponse::error(
            400,
            "InvalidParameter",
            "Format must be JSON in the simulator.",
        ));
    }
    Ok(())
}

/// `MissingParameter` for the common or operation parameter (v1) or header (V3) `name`.
fn missing_parameter(name: &str) -> SimResponse {
    SimResponse::error(
        400,
        "MissingParameter",
        &format!(
            "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
        ),
    )
}

/// The AccessKey the request names, which must be one the simulator was given.
fn known_key<'a>(state: &'a SimState, access_key_id: &str) -> Result<&'a SimKey, SimResponse> {
    state.keys.get(access_key_id).ok_or_else(|| {
        SimResponse::error(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )
    })
}

/// The timestamp skew: the request's time (`None` when it did not parse) within
/// [`MAX_SKEW`] of `now`, either way.
fn fresh_timestamp(ts: Option<SystemTime>, now: SystemTime) -> Result<(), SimResponse> {
    let ts = ts.ok_or_else(|| {
        SimResponse::error(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    let skew = now
        .duration_since(ts)
        .or_else(|e| Ok::<_, ()>(e.duration()))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(SimResponse::error(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

/// `SignatureDoesNotMatch`, echoing the simulator's string to sign as the gateway does.
fn signature_mismatch(string_to_sign: &str) -> SimResponse {
    SimResponse::error(
        400,
        "SignatureDoesNotMatch",
        &format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        ),
    )
}

/// The operation and its required parameters: `action` is an operation a collector
/// declares, and none of its required parameters is missing or empty in `params`.
fn known_operation_with_parameters(
    action: &str,
    params: &BTreeMap<String, String>,
) -> Result<(), SimResponse> {
    // The operation must exist and have its required parameters, as the gateway checks
    // before the product sees the request; the operations are the collectors' own.
    let Some((_, operation)) = crate::collect::operation(action) else {
        return Err(SimResponse::error(
            404,
            "InvalidApi.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    };
    if let Some(missing) = operation
        .required
        .iter()
        .find(|k| params.get(**k).is_none_or(|v| v.is_empty()))
    {
        return Err(missing_parameter(missing));
    }
    Ok(())
}

/// The security token: the one an STS key requires, and none for a long-lived key.
fn matching_security_token(key: &SimKey, sent: Option<&str>) -> Result<(), SimResponse> {
    if key.security_token.as_deref() != sent {
        return Err(SimResponse::error(
            400,
            "InvalidSecurityToken.Mismatch",
            "Specified SecurityToken is invalid.",
        ));
    }
    Ok(())
}
