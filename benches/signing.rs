//! Cost of signing one CAMS request, RPC signature v1 (canonicalize, percent-encode twice,
//! HMAC-SHA1, Base64) beside V3 (canonical request with the x-acs-* headers, two SHA-256,
//! HMAC-SHA256, hex). Every API call pays one of them once.

use std::collections::BTreeMap;

use chatapp_exporter::api::client::Target;
use chatapp_exporter::api::signing::{self, CommonParams};
use chatapp_exporter::api::{SignatureVersion, signing_v3};
use chatapp_exporter::credentials::Credentials;
use criterion::{Criterion, criterion_group, criterion_main};

fn signing(c: &mut Criterion) {
    let mut params = CommonParams {
        action: "QueryChatappPhoneNumbers",
        version: "2020-06-06",
        access_key_id: "LTAI5tExampleKeyId000001",
        timestamp: "2026-01-01T00:00:00Z",
        nonce: "3f2a9c4b5d6e7f8091a2b3c4d5e6f708",
        security_token: None,
    }
    .into_params();
    params.insert("CustSpaceId".into(), "2934000001".into());
    let params: BTreeMap<String, String> = params;
    c.bench_function("sign/QueryChatappPhoneNumbers", |b| {
        b.iter(|| signing::sign("POST", std::hint::black_box(&params), "secret-value"))
    });

    // The same call under V3: the signer alone, and the whole request shape (query,
    // headers, Authorization) as the client builds it.
    let query = BTreeMap::from([("CustSpaceId".to_owned(), "2934000001".to_owned())]);
    let empty = signing_v3::hex_sha256(b"");
    let headers = [
        ("host", "cams.ap-southeast-1.aliyuncs.com"),
        ("x-acs-action", "QueryChatappPhoneNumbers"),
        ("x-acs-version", "2020-06-06"),
        ("x-acs-date", "2026-01-01T00:00:00Z"),
        ("x-acs-signature-nonce", "3f2a9c4b5d6e7f8091a2b3c4d5e6f708"),
        ("x-acs-content-sha256", empty.as_str()),
    ];
    c.bench_function("sign_v3/QueryChatappPhoneNumbers", |b| {
        b.iter(|| {
            signing_v3::sign(
                &signing_v3::Request {
                    method: "POST",
                    pathname: "/",
                    query: std::hint::black_box(&query),
                    headers: &headers,
                    body: b"",
                },
                "LTAI5tExampleKeyId000001",
                "secret-value",
            )
        })
    });
    let target = Target {
        endpoint: "https://cams.ap-southeast-1.aliyuncs.com".into(),
        cust_space_id: Some("2934000001".into()),
        isv_code: None,
        signature: SignatureVersion::V3,
    };
    let creds = Credentials {
        access_key_id: "LTAI5tExampleKeyId000001".into(),
        access_key_secret: "secret-value".to_owned().into(),
        security_token: None,
    };
    for version in [SignatureVersion::V1, SignatureVersion::V3] {
        c.bench_function(
            &format!("prepare_{version}/QueryChatappPhoneNumbers"),
            |b| {
                b.iter(|| {
                    version.prepare(
                        "QueryChatappPhoneNumbers",
                        std::hint::black_box(&target),
                        &creds,
                        &[],
                        "2026-01-01T00:00:00Z",
                        "3f2a9c4b5d6e7f8091a2b3c4d5e6f708",
                    )
                })
            },
        );
    }
}

criterion_group!(benches, signing);
criterion_main!(benches);
