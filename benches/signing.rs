//! Cost of signing one CAMS request (RPC signature v1): canonicalize, percent-encode twice,
//! HMAC-SHA1, Base64. Every API call pays it once.

use std::collections::BTreeMap;

use chatapp_exporter::api::signing::{self, CommonParams};
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
}

criterion_group!(benches, signing);
criterion_main!(benches);
