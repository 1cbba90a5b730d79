//! The demo answer to `QueryChatappPhoneNumbers`: the world's numbers of the account asked
//! about, as the API sends them, streamed.

use serde::Serialize;

use crate::collect::demo::{DemoNumber, DemoWorld, Reply, SimRequest, StreamedBody, request_id};

/// Answers with every number of the account the request is about.
pub fn respond(world: &DemoWorld, request: &SimRequest) -> Reply {
    let space = world.space(request);
    let scripted = world.numbers(space);
    Reply::Streamed(numbers_body(scripted, world.extra_numbers(space)))
}

/// One number as the API sends it. Serialized straight from this struct, and generated
/// numbers one at a time while serializing, not through a `serde_json::Value` tree: with
/// `--demo.extra-numbers 10000` a tree of maps would cost the process some 20 MB at every
/// refresh, which the exporter's memory figures would wrongly include.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NumberJson<'a> {
    phone_number: &'a str,
    verified_name: &'a str,
    status: &'static str,
    quality_rating: &'static str,
    messaging_limit_tier: &'static str,
    code_verification_status: &'static str,
    name_status: &'static str,
    new_name_status: &'static str,
    is_official: &'static str,
    status_callback_url: String,
    up_callback_url: String,
    status_queue: &'static str,
    up_queue: &'static str,
}

impl<'a> NumberJson<'a> {
    fn of(n: &'a DemoNumber) -> Self {
        let url = |kind: &str| {
            if n.callbacks {
                format!("https://hooks.example.com/{kind}?token=demo-{}", n.phone)
            } else {
                String::new()
            }
        };
        NumberJson {
            phone_number: &n.phone,
            verified_name: &n.name,
            status: n.status,
            quality_rating: n.quality,
            messaging_limit_tier: n.tier,
            code_verification_status: n.code_verification,
            name_status: n.name_status,
            new_name_status: n.new_name_status,
            is_official: n.official,
            status_callback_url: url("status"),
            up_callback_url: url("inbound"),
            status_queue: "Alicom-Queue-0000-ChatAppStatus",
            up_queue: "Alicom-Queue-0000-ChatAppInbound",
        }
    }
}

/// Numbers serialized per chunk of the streamed body.
const NUMBERS_PER_CHUNK: usize = 256;

/// Counts what a serializer writes.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A success body: the scripted numbers followed by `extra` generated ones, produced (and
/// generated) a chunk at a time while it is sent. Its length comes from a first pass that
/// only counts bytes.
fn numbers_body(scripted: Vec<DemoNumber>, extra: usize) -> StreamedBody {
    let head = format!(
        r#"{{"RequestId":"{}","Code":"OK","Message":"SUCCESS","Success":true,"PhoneNumbers":["#,
        request_id()
    )
    .into_bytes();
    let total = scripted.len() + extra;
    // Appends number `i` (preceded by a comma unless first) to `out`. Serializing a plain
    // struct cannot fail, and neither can writing to a Vec or a counter.
    let write = move |i: usize, out: &mut dyn std::io::Write| {
        if i > 0 {
            let _ = out.write_all(b",");
        }
        let generated;
        let n = match scripted.get(i) {
            Some(n) => n,
            None => {
                generated = crate::collect::demo::extra_number(i - scripted.len());
                &generated
            }
        };
        let _ = serde_json::to_writer(out, &NumberJson::of(n));
    };
    let mut counter = Counter(head.len() + 2);
    for i in 0..total {
        write(i, &mut counter);
    }
    let mut next = 0;
    let body = std::iter::once(head).chain(std::iter::from_fn(move || {
        if next > total {
            return None;
        }
        let mut chunk = Vec::with_capacity(NUMBERS_PER_CHUNK * 512);
        let end = (next + NUMBERS_PER_CHUNK).min(total);
        for i in next..end {
            write(i, &mut chunk);
        }
        if end == total {
            chunk.extend_from_slice(b"]}");
            next = total + 1;
        } else {
            next = end;
        }
        Some(chunk)
    }));
    StreamedBody {
        len: counter.0,
        chunks: Box::new(body),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::collect::phone_numbers::PhoneNumbersResponse;

    #[test]
    fn the_streamed_body_is_the_declared_length_and_decodes() {
        let world = DemoWorld::new(Duration::from_secs(200), 600);
        let request = SimRequest {
            method: "POST".into(),
            action: "QueryChatappPhoneNumbers".into(),
            params: Default::default(),
            signature: "v1",
        };
        let Reply::Streamed(body) = respond(&world, &request) else {
            panic!("not streamed");
        };
        let len = body.len;
        let bytes: Vec<u8> = body.chunks.flatten().collect();
        assert_eq!(bytes.len(), len);
        let r: PhoneNumbersResponse = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(r.phone_numbers.len(), 605);
        let sales = &r.phone_numbers[1];
        assert_eq!(sales.quality_rating.as_deref(), Some("RED"));
    }
}
