//! The simulator's Signature V3 verification over HTTP: hand-made V3 requests (signed with
//! the verifier's own `sim::v3::sign`, not the client's signer) through `Simulator::start`,
//! accepted and rejected the way the gateway does; v1 requests still verify as v1.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chatapp_exporter::api::signing;
use chatapp_exporter::sim::v3::{self, V3Request};
use chatapp_exporter::sim::{Backend, SimKey, SimRequest, SimResponse, Simulator};

const KEY_ID: &str = "LTAI5tSimV3KeyId";
const SECRET: &str = "SimV3Secret+/=é";
const STS_ID: &str = "STS.SimV3TmpId";
const STS_SECRET: &str = "StsSecret";
const TOKEN: &str = "CAIS+token/with=chars";

struct Ok200;

impl Backend for Ok200 {
    fn respond(&self, request: &SimRequest) -> SimResponse {
        SimResponse::ok(serde_json::json!({
            "Code": "OK",
            "Action": request.action,
            "Signature": request.signature,
        }))
    }
}

async fn start() -> Simulator {
    chatapp_exporter::api::client::install_crypto_provider();
    Simulator::start(
        Arc::new(Ok200),
        HashMap::from([
            (
                KEY_ID.to_owned(),
                SimKey {
                    secret: SECRET.to_owned(),
                    security_token: None,
                },
            ),
            (
                STS_ID.to_owned(),
                SimKey {
                    secret: STS_SECRET.to_owned(),
                    security_token: Some(TOKEN.to_owned()),
                },
            ),
        ]),
    )
    .await
    .expect("simulator binds 127.0.0.1:0")
}

/// One V3 request: what to send and what the verifier's own signer computed for it.
struct Made {
    raw_query: String,
    headers: Vec<(String, String)>,
    string_to_sign: String,
}

/// Options for [`make`].
struct Spec<'a> {
    action: &'a str,
    /// Decoded parameters and their wire form (`+` or `%20` for a space, as a client may).
    query: &'a [(&'a str, &'a str)],
    raw_query: &'a str,
    date: SystemTime,
    key: (&'a str, &'a str),
    token: Option<&'a str>,
}

fn make(sim: &Simulator, spec: &Spec<'_>) -> Made {
    let host = sim.endpoint().trim_start_matches("http://").to_owned();
    let date = humantime::format_rfc3339_seconds(spec.date).to_string();
    let nonce = format!("{:032x}", rand::random::<u128>());
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host),
        ("x-acs-action".into(), spec.action.into()),
        ("x-acs-version".into(), "2020-06-06".into()),
        ("x-acs-date".into(), date),
        ("x-acs-signature-nonce".into(), nonce),
        ("x-acs-content-sha256".into(), v3::sha256_hex(b"")),
        ("accept".into(), "application/json".into()),
    ];
    if let Some(token) = spec.token {
        headers.push(("x-acs-security-token".into(), token.into()));
    }
    let query: Vec<(String, String)> = spec
        .query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let (computed, authorization) = v3::sign(
        &V3Request {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers,
            body: b"",
        },
        spec.key.0,
        spec.key.1,
    );
    headers.push(("authorization".into(), authorization.header_value()));
    Made {
        raw_query: spec.raw_query.to_owned(),
        headers,
        string_to_sign: computed.string_to_sign,
    }
}

async fn send(sim: &Simulator, made: &Made) -> (u16, serde_json::Value) {
    let mut url = format!("{}/", sim.endpoint());
    if !made.raw_query.is_empty() {
        url.push('?');
        url.push_str(&made.raw_query);
    }
    let mut request = reqwest::Client::new().post(url);
    for (name, value) in &made.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.expect("simulator answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).expect("JSON body");
    (status, body)
}

fn spec<'a>() -> Spec<'a> {
    Spec {
        action: "QueryChatappPhoneNumbers",
        query: &[("CustSpaceId", "a b+c*~"), ("IsvCode", "阿里")],
        raw_query: "IsvCode=%E9%98%BF%E9%87%8C&CustSpaceId=a+b%2Bc%2A~",
        date: SystemTime::now(),
        key: (KEY_ID, SECRET),
        token: None,
    }
}

#[tokio::test]
async fn a_v3_request_is_verified_as_v3_and_its_nonce_is_spent() {
    let sim = start().await;
    let made = make(&sim, &spec());
    let (status, body) = send(&sim, &made).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Signature"], "v3");
    let requests = sim.requests();
    let seen = requests.last().expect("logged");
    assert_eq!(seen.signature, "v3");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.action, "QueryChatappPhoneNumbers");
    assert_eq!(
        seen.params,
        BTreeMap::from([
            ("CustSpaceId".to_owned(), "a b+c*~".to_owned()),
            ("IsvCode".to_owned(), "阿里".to_owned()),
        ])
    );

    // The same request again: its nonce was used.
    let (status, body) = send(&sim, &made).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed"))
    );

    // `%20` for a space verifies as well as `+`.
    let made = make(
        &sim,
        &Spec {
            raw_query: "CustSpaceId=a%20b%2Bc%2A%7E&IsvCode=%E9%98%BF%E9%87%8C",
            ..spec()
        },
    );
    let (status, body) = send(&sim, &made).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_wrong_secret_echoes_the_same_string_to_sign() {
    let sim = start().await;
    let made = make(
        &sim,
        &Spec {
            key: (KEY_ID, "not-the-secret"),
            ..spec()
        },
    );
    let (status, body) = send(&sim, &made).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );
    let message = body["Message"].as_str().unwrap();
    let echoed = message
        .strip_prefix(
            "Specified signature is not matched with our calculation. server string to sign is:",
        )
        .expect("the message ends with the server's string to sign");
    // Equal strings: the client can tell the secret is wrong, not its canonicalisation.
    assert_eq!(echoed, made.string_to_sign);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn a_tampered_query_echoes_a_different_string_to_sign() {
    let sim = start().await;
    let made = make(
        &sim,
        &Spec {
            // Signed over "a b+c*~", sent as "a b c*~": the `+` was not encoded.
            raw_query: "IsvCode=%E9%98%BF%E9%87%8C&CustSpaceId=a+b+c%2A~",
            ..spec()
        },
    );
    let (status, body) = send(&sim, &made).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );
    let message = body["Message"].as_str().unwrap();
    assert!(message.contains("server string to sign is:ACS3-HMAC-SHA256\n"));
    assert!(!message.ends_with(&made.string_to_sign));
}

#[tokio::test]
async fn stale_and_future_dates_are_expired() {
    let sim = start().await;
    for date in [
        SystemTime::now() - Duration::from_secs(20 * 60),
        SystemTime::now() + Duration::from_secs(20 * 60),
    ] {
        let made = make(&sim, &Spec { date, ..spec() });
        let (status, body) = send(&sim, &made).await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("InvalidTimeStamp.Expired"))
        );
    }
}

#[tokio::test]
async fn sts_needs_the_matching_token_header() {
    let sim = start().await;
    let sts = |token| Spec {
        action: "QueryChatappBindWaba",
        query: &[],
        raw_query: "",
        key: (STS_ID, STS_SECRET),
        token,
        ..spec()
    };
    let (status, body) = send(&sim, &make(&sim, &sts(Some(TOKEN)))).await;
    assert_eq!(status, 200, "{body}");
    for token in [None, Some("CAIS+another")] {
        let (status, body) = send(&sim, &make(&sim, &sts(token))).await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("InvalidSecurityToken.Mismatch"))
        );
    }
}

#[tokio::test]
async fn unknown_keys_operations_and_missing_parameters() {
    let sim = start().await;
    let (status, body) = send(
        &sim,
        &make(
            &sim,
            &Spec {
                key: ("LTAInobody", SECRET),
                ..spec()
            },
        ),
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("InvalidAccessKeyId.NotFound"))
    );
    let (status, body) = send(
        &sim,
        &make(
            &sim,
            &Spec {
                action: "SendChatappMessage",
                ..spec()
            },
        ),
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("InvalidApi.NotFound"))
    );
    let (status, body) = send(
        &sim,
        &make(
            &sim,
            &Spec {
                action: "GetWhatsappHealthStatus",
                ..spec()
            },
        ),
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("MissingParameter"))
    );
    assert!(body["Message"].as_str().unwrap().contains("NodeType"));
}

#[tokio::test]
async fn mixing_v1_parameters_into_a_v3_request_is_rejected() {
    let sim = start().await;
    let made = make(
        &sim,
        &Spec {
            query: &[("SignatureMethod", "HMAC-SHA1")],
            raw_query: "SignatureMethod=HMAC-SHA1",
            ..spec()
        },
    );
    let (status, body) = send(&sim, &made).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter"))
    );
}

#[tokio::test]
async fn an_unsigned_x_acs_header_is_rejected() {
    let sim = start().await;
    let mut made = make(&sim, &spec());
    // Sent but not in SignedHeaders.
    made.headers
        .push(("x-acs-credentials-provider".into(), "static_ak".into()));
    let (status, body) = send(&sim, &made).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("IncompleteSignature"))
    );
    let mut made = make(&sim, &spec());
    made.headers.retain(|(n, _)| n != "authorization");
    made.headers.push((
        "authorization".into(),
        "ACS3-HMAC-SHA256 Credential=x".into(),
    ));
    let (status, body) = send(&sim, &made).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("IncompleteSignature"))
    );
}

#[tokio::test]
async fn a_v1_request_is_still_verified_as_v1() {
    let sim = start().await;
    let timestamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let nonce = format!("{:032x}", rand::random::<u128>());
    let params = signing::CommonParams {
        action: "QueryChatappBindWaba",
        version: "2020-06-06",
        access_key_id: KEY_ID,
        timestamp: &timestamp,
        nonce: &nonce,
        security_token: None,
    }
    .into_params();
    let signed = signing::sign("POST", &params, SECRET);
    let response = reqwest::Client::new()
        .post(format!("{}/?{}", sim.endpoint(), signed.query))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let seen = sim.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].signature, "v1");
    assert_eq!(seen[0].param("SignatureMethod"), Some("HMAC-SHA1"));
}
