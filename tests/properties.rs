//! Property tests (issue #5): the signer's canonicalisation against the written rules, label
//! escaping through the `prometheus` text encoder and back, and response decoding that never
//! panics on arbitrary input.

use std::collections::BTreeMap;

use chatapp_exporter::api::client::interpret;
use chatapp_exporter::api::signing;
use chatapp_exporter::collect::health::HealthStatusResponse;
use chatapp_exporter::collect::phone_numbers::PhoneNumbersResponse;
use chatapp_exporter::collect::templates::{TemplateDetailResponse, TemplateListResponse};
use chatapp_exporter::collect::waba::BindWabaResponse;
use chatapp_exporter::collect::{self, FamilyDef, TierLimits, phone_numbers};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Signer canonicalisation (src/api/signing.rs rules 1-5)
// ---------------------------------------------------------------------------------------

/// Rule 3 written out independently: RFC 3986 unreserved bytes are kept, every other UTF-8
/// byte becomes `%XY` with uppercase hex; a space is `%20`, never `+`.
fn reference_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parameter names and values: printable ASCII, reserved characters, spaces, non-ASCII and
/// empty strings.
fn param_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9]{0,12}",
        "[ -~]{0,16}",
        "\\PC{0,8}",
        Just(String::new()),
        Just("a b+c*d~e%20/f=g&h".to_owned()),
    ]
}

proptest! {
    #[test]
    fn percent_encoding_follows_rfc3986(s in "\\PC{0,40}") {
        let enc = signing::percent_encode(&s);
        prop_assert_eq!(&enc, &reference_encode(&s));
        prop_assert!(!enc.contains('+') && !enc.contains(' '));
        let back = percent_encoding::percent_decode_str(&enc).decode_utf8().unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn canonical_query_sorts_by_raw_bytes_and_encodes_both_sides(
        params in prop::collection::btree_map(param_text(), param_text(), 0..8),
        method in prop_oneof![Just("GET"), Just("POST")],
    ) {
        // Rule 2: sorted by the raw (unencoded) name, byte order.
        let mut names: Vec<&String> = params.keys().collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let expected = names
            .iter()
            .map(|k| format!("{}={}", reference_encode(k), reference_encode(&params[*k])))
            .collect::<Vec<_>>()
            .join("&");
        let query = signing::canonicalized_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        prop_assert_eq!(&query, &expected);

        // Rule 4: METHOD & enc("/") & enc(query).
        let sts = signing::string_to_sign(method, &params);
        prop_assert_eq!(&sts, &format!("{method}&%2F&{}", reference_encode(&expected)));

        // The signed query parses back (as the server sees it) to the same parameters plus
        // the signature, and signing is deterministic.
        let signed = signing::sign(method, &params, "secret");
        prop_assert_eq!(&signed.string_to_sign, &sts);
        prop_assert_eq!(&signed, &signing::sign(method, &params, "secret"));
        let mut parsed: BTreeMap<String, String> = signing::parse_query(&signed.query)
            .into_iter()
            .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
            .collect();
        prop_assert_eq!(parsed.remove("Signature"), Some(signed.signature.clone()));
        let without_empty_names: BTreeMap<String, String> = params
            .iter()
            .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !params.contains_key("Signature") {
            prop_assert_eq!(parsed, without_empty_names);
        }
    }
}

proptest! {
    /// V3's canonical query (cams-api.md §11): names as they are, sorted by their bytes;
    /// values encoded per RFC 3986, one pass; `name=value` joined by `&`.
    #[test]
    fn v3_canonical_query_follows_the_written_rules(
        params in prop::collection::btree_map(param_text(), param_text(), 0..8),
    ) {
        let mut names: Vec<&String> = params.keys().collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let expected = names
            .iter()
            .map(|k| format!("{k}={}", reference_encode(&params[*k])))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert_eq!(chatapp_exporter::api::signing_v3::canonical_query(&params), expected);
    }
}

// ---------------------------------------------------------------------------------------
// Label escaping round trip
// ---------------------------------------------------------------------------------------

const TEST_FAMILY: FamilyDef = FamilyDef {
    name: "chatapp_property_test",
    help: "Property test family with \\ backslash and \n newline in HELP.",
};

/// Parses the label values of every sample line of a text exposition, undoing the format's
/// escapes (`\\`, `\"`, `\n`). Fails on anything the format does not allow.
fn parse_label_values(text: &str) -> Result<Vec<Vec<(String, String)>>, String> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let open = line.find('{').ok_or("no labels")?;
        let name = &line[..open];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            return Err(format!("bad metric name {name:?}"));
        }
        let mut chars = line[open + 1..].chars();
        let mut labels = Vec::new();
        loop {
            let mut lname = String::new();
            for c in chars.by_ref() {
                if c == '=' {
                    break;
                }
                lname.push(c);
            }
            if chars.next() != Some('"') {
                return Err("label value not quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated value")? {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")? {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("bad escape \\{other}")),
                    },
                    '\n' => return Err("raw newline".into()),
                    c => value.push(c),
                }
            }
            labels.push((lname, value));
            match chars.next() {
                Some(',') => continue,
                Some('}') => break,
                other => return Err(format!("unexpected {other:?} after a label")),
            }
        }
        let rest: String = chars.collect();
        let value = rest.trim_start_matches(' ');
        value
            .parse::<f64>()
            .map_err(|_| format!("bad sample value {value:?}"))?;
        samples.push(labels);
    }
    Ok(samples)
}

fn label_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\\\\"\n a-z{}=,#]{0,20}",
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #[test]
    fn label_values_survive_the_text_encoder(values in prop::collection::vec(label_text(), 1..4)) {
        let mut family = collect::family(&TEST_FAMILY, "note");
        let mut expected = Vec::new();
        for (i, raw) in values.iter().enumerate() {
            let v = collect::label_value(raw);
            let index = i.to_string();
            family.mut_metric().push(collect::gauge(&[("index", &index), ("value", &v)], 1.0));
            expected.push(vec![("index".to_owned(), index), ("value".to_owned(), v)]);
        }
        let mut out = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &[family], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        // One HELP, one TYPE and one line per sample: no value broke a line.
        prop_assert_eq!(text.lines().count(), values.len() + 2, "{}", text);
        let parsed = parse_label_values(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn label_value_trims_and_caps(raw in any::<String>()) {
        let v = collect::label_value(&raw);
        prop_assert!(v.chars().count() <= collect::MAX_LABEL_CHARS);
        prop_assert!(raw.trim().starts_with(v.as_str()));
        prop_assert_eq!(v.trim(), v.as_str().trim_end());
    }
}

// ---------------------------------------------------------------------------------------
// JSON decoding never panics
// ---------------------------------------------------------------------------------------

/// Arbitrary JSON values, biased towards the response's own keys so that deep paths are
/// reached with wrong types, nulls, huge numbers and odd strings.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let key = prop_oneof![
        Just("Code".to_owned()),
        Just("Success".to_owned()),
        Just("RequestId".to_owned()),
        Just("Message".to_owned()),
        Just("PhoneNumbers".to_owned()),
        Just("PhoneNumber".to_owned()),
        Just("Status".to_owned()),
        Just("QualityRating".to_owned()),
        Just("MessagingLimitTier".to_owned()),
        Just("VerifiedName".to_owned()),
        Just("Data".to_owned()),
        Just("Id".to_owned()),
        Just("CanSendMessage".to_owned()),
        Just("Entities".to_owned()),
        Just("Errors".to_owned()),
        Just("ListTemplate".to_owned()),
        Just("Total".to_owned()),
        Just("QualityScore".to_owned()),
        "[A-Za-z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from("OK")),
        Just(Value::from("CONNECTED")),
        Just(Value::from("TIER_1K")),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Decodes every operation's answer and converts the phone numbers, as a refresh would.
fn decode_everything(status: u16, body: &[u8]) {
    if let Ok(r) = interpret::<PhoneNumbersResponse>(status, body, "sts", "LTAI-test") {
        let (families, _report) = phone_numbers::convert(
            "acct",
            &r.phone_numbers,
            &TierLimits::default(),
            "note",
            chatapp_exporter::metrics::EnumMode::All,
        );
        let mut out = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &families, &mut out)
            .expect("converted families encode");
        parse_label_values(&String::from_utf8(out).unwrap()).expect("valid exposition");
    }
    let _ = interpret::<BindWabaResponse>(status, body, "sts", "LTAI-test");
    let _ = interpret::<HealthStatusResponse>(status, body, "sts", "LTAI-test");
    let _ = interpret::<TemplateListResponse>(status, body, "sts", "LTAI-test");
    let _ = interpret::<TemplateDetailResponse>(status, body, "sts", "LTAI-test");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        status in prop_oneof![Just(200u16), Just(400), Just(500), any::<u16>()],
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        decode_everything(status, &body);
    }

    #[test]
    fn arbitrary_json_never_panics(status in prop_oneof![Just(200u16), Just(403)], value in json_value()) {
        decode_everything(status, value.to_string().as_bytes());
    }

    #[test]
    fn well_formed_ok_responses_with_hostile_fields_convert(
        numbers in prop::collection::vec(
            (label_text(), label_text(), label_text(), label_text()),
            0..6,
        ),
    ) {
        let list: Vec<serde_json::Value> = numbers
            .iter()
            .map(|(n, status, rating, tier)| serde_json::json!({
                "PhoneNumber": n, "Status": status, "QualityRating": rating,
                "MessagingLimitTier": tier, "VerifiedName": n,
            }))
            .collect();
        let body = serde_json::json!({"Code": "OK", "RequestId": "r", "PhoneNumbers": list});
        let r = interpret::<PhoneNumbersResponse>(200, body.to_string().as_bytes(), "sts", "id")
            .expect("an OK response decodes");
        prop_assert_eq!(r.phone_numbers.len(), numbers.len());
        decode_everything(200, body.to_string().as_bytes());
    }
}
