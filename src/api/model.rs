//! Serde DTOs for the CAMS responses the exporter reads, and the error body.
//!
//! Shapes follow the official SDK models (`alibabacloud_cams20200606/models/
//! _query_chatapp_phone_numbers_response_body.py` and `_query_chatapp_bind_waba_response_body.py`,
//! see cams-api.md §3-4). Only data lives here: no Prometheus knowledge.
//!
//! Decoding is deliberately lenient per field and strict per shape: unknown fields are
//! ignored, a string field that arrives as a number or boolean is kept as its text, and
//! `null` or an object where a string belongs reads as absent. The list itself must be
//! there: an `OK` answer without `PhoneNumbers` is rejected rather than read as "no numbers",
//! because that would make every number vanish from /metrics.

use std::fmt;

use compact_str::{CompactString, ToCompactString as _};
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Text of a number's or a WABA's field. Values up to 24 bytes (phone numbers, enum states,
/// most names) are stored inline, without a heap allocation: a refresh of 10,000 numbers
/// holds about 90,000 of them while it renders (bench/README.md, "Memory").
pub type Text = CompactString;

/// Fields every CAMS response (success or error) carries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    /// Request ID, quoted in logs for support tickets.
    #[serde(default, deserialize_with = "lenient_string")]
    pub request_id: Option<String>,
    /// `OK` on success, else an Alibaba error code such as `Throttling.User`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// Human-readable message; for `SignatureDoesNotMatch` it ends with the server's
    /// string-to-sign.
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: Option<String>,
    /// Present on newer responses; `false` means failure even with HTTP 200.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub success: Option<bool>,
}

/// A successful response body: the payload plus the envelope fields that decide success.
///
/// The envelope fields are repeated in each body rather than `#[serde(flatten)]`ed, because
/// flattening buffers the whole document and doubles decoding time on large fleets.
pub trait ApiResponse: serde::de::DeserializeOwned {
    /// The `Code` field.
    fn code(&self) -> Option<&str>;
    /// The `Success` field.
    fn success(&self) -> Option<bool>;
}

macro_rules! impl_api_response {
    ($t:ty) => {
        impl ApiResponse for $t {
            fn code(&self) -> Option<&str> {
                self.code.as_deref()
            }
            fn success(&self) -> Option<bool> {
                self.success
            }
        }
    };
}
impl_api_response!(PhoneNumbersResponse);
impl_api_response!(BindWabaResponse);
impl_api_response!(HealthStatusResponse);
impl_api_response!(TemplateListResponse);
impl_api_response!(TemplateDetailResponse);

/// `QueryChatappPhoneNumbers` response body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PhoneNumbersResponse {
    /// Request ID, quoted in logs.
    #[serde(default, deserialize_with = "lenient_string")]
    pub request_id: Option<String>,
    /// `OK` on success.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// `false` means failure even with HTTP 200.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub success: Option<bool>,
    /// The full list of numbers (the API has no pagination). Required: see the module doc.
    pub phone_numbers: Vec<PhoneNumber>,
}

/// One sending number, as `QueryChatappPhoneNumbers` returns it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PhoneNumber {
    /// Digits without `+`, e.g. `8613800000001`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub phone_number: Option<Text>,
    /// Business display name approved by Meta; free text.
    #[serde(default, deserialize_with = "lenient_text")]
    pub verified_name: Option<Text>,
    /// Operational state, e.g. `CONNECTED`, `FLAGGED`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub status: Option<Text>,
    /// `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub quality_rating: Option<Text>,
    /// Raw tier string in either vocabulary (`TIER_10` or `TIER_1K`).
    #[serde(default, deserialize_with = "lenient_text")]
    pub messaging_limit_tier: Option<Text>,
    /// Two-step verification state.
    #[serde(default, deserialize_with = "lenient_text")]
    pub code_verification_status: Option<Text>,
    /// Review state of the display name (`Approval`, `Pending_Review`, `Rejected`).
    #[serde(default, deserialize_with = "lenient_text")]
    pub name_status: Option<Text>,
    /// Review state of a pending name change; often empty.
    #[serde(default, deserialize_with = "lenient_text")]
    pub new_name_status: Option<Text>,
    /// Whether a delivery-receipt callback URL is set. The URL itself is not kept: it may
    /// embed tokens, and only its presence is exported.
    #[serde(default, deserialize_with = "lenient_present")]
    pub status_callback_url: bool,
    /// Whether an inbound-message callback URL is set (the URL is not kept, as above).
    #[serde(default, deserialize_with = "lenient_present")]
    pub up_callback_url: bool,
    /// `Y` for an Official Business Account.
    #[serde(default, deserialize_with = "lenient_text")]
    pub is_official: Option<Text>,
}

/// `QueryChatappBindWaba` response body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindWabaResponse {
    /// Request ID, quoted in logs.
    #[serde(default, deserialize_with = "lenient_string")]
    pub request_id: Option<String>,
    /// `OK` on success.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// `false` means failure even with HTTP 200.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub success: Option<bool>,
    /// The WABA bound to the account (or to `CustSpaceId`). Required on success.
    pub data: Waba,
}

/// The WhatsApp Business Account bound to the instance.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Waba {
    /// WABA ID assigned by Meta.
    #[serde(default, deserialize_with = "lenient_text")]
    pub id: Option<Text>,
    /// Registered business name.
    #[serde(default, deserialize_with = "lenient_text")]
    pub name: Option<Text>,
    /// Billing currency, e.g. `USD`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub currency: Option<Text>,
    /// Meta's review decision: `APPROVED`, `PENDING`, `REJECTED`, `DISABLED`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub account_review_status: Option<Text>,
    /// Namespace for message templates.
    #[serde(default, deserialize_with = "lenient_text")]
    pub message_template_namespace: Option<Text>,
    /// Business platform ID.
    #[serde(default, deserialize_with = "lenient_text")]
    pub business_id: Option<Text>,
    /// Business platform name.
    #[serde(default, deserialize_with = "lenient_text")]
    pub business_name: Option<Text>,
}

/// `GetWhatsappHealthStatus` response body (cams-api.md §9; SDK 5.3.1 model).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthStatusResponse {
    /// Request ID, quoted in logs.
    #[serde(default, deserialize_with = "lenient_string")]
    pub request_id: Option<String>,
    /// `OK` on success.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// `false` means failure even with HTTP 200.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub success: Option<bool>,
    /// The node's health. Required on success: an answer without it says nothing about
    /// whether the number can send, and must not read as "no errors".
    pub data: HealthStatus,
}

/// Whether a node (phone number, WABA) can send now, as Meta computes it over the node and
/// the nodes above it (business, app).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthStatus {
    /// Overall `AVAILABLE`, `LIMITED` or `BLOCKED` (an open set).
    #[serde(default, deserialize_with = "lenient_text")]
    pub can_send_message: Option<Text>,
    /// The nodes Meta evaluated, each with its own state and errors; may be empty.
    #[serde(default, deserialize_with = "lenient_list")]
    pub entities: Vec<HealthEntity>,
}

/// One node of a health answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthEntity {
    /// `PHONE_NUMBER`, `WABA`, `BUSINESS`, `APP`, `MESSAGE_TEMPLATE` (an open set).
    #[serde(default, deserialize_with = "lenient_text")]
    pub entity_type: Option<Text>,
    /// This node's own state.
    #[serde(default, deserialize_with = "lenient_text")]
    pub can_send_message: Option<Text>,
    /// Set on `PHONE_NUMBER` nodes.
    #[serde(default, deserialize_with = "lenient_text")]
    pub phone_number: Option<Text>,
    /// Set on `WABA` nodes.
    #[serde(default, deserialize_with = "lenient_text")]
    pub waba_id: Option<Text>,
    /// Set on `BUSINESS` nodes.
    #[serde(default, deserialize_with = "lenient_text")]
    pub business_id: Option<Text>,
    /// Set on `MESSAGE_TEMPLATE` nodes.
    #[serde(default, deserialize_with = "lenient_text")]
    pub template_code: Option<Text>,
    /// Meta's errors on this node.
    #[serde(default, deserialize_with = "lenient_list")]
    pub errors: Vec<HealthError>,
}

/// One error Meta reports on a node (Meta Graph error codes, e.g. `141006`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthError {
    /// Meta's error code.
    #[serde(default, deserialize_with = "lenient_text")]
    pub error_code: Option<Text>,
    /// What is wrong, in Meta's words.
    #[serde(default, deserialize_with = "lenient_text")]
    pub error_description: Option<Text>,
    /// What to do about it, in Meta's words (free text: never a label).
    #[serde(default, deserialize_with = "lenient_text")]
    pub possible_solution: Option<Text>,
}

/// `ListChatappTemplate` response body (cams-api.md §10).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateListResponse {
    /// Request ID, quoted in logs.
    #[serde(default, deserialize_with = "lenient_string")]
    pub request_id: Option<String>,
    /// `OK` on success.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// `false` means failure even with HTTP 200.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub success: Option<bool>,
    /// Templates in all pages, as text (a number in the SDK model).
    #[serde(default, deserialize_with = "lenient_text")]
    pub total: Option<Text>,
    /// This page. Required: an `OK` answer without it must not read as "no templates".
    pub list_template: Vec<TemplateItem>,
}

/// One template of a list page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateItem {
    /// Template code (with `Language`, the template's identity).
    #[serde(default, deserialize_with = "lenient_text")]
    pub template_code: Option<Text>,
    /// Display name.
    #[serde(default, deserialize_with = "lenient_text")]
    pub template_name: Option<Text>,
    /// Language, e.g. `en`, `zh_CN`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub language: Option<Text>,
    /// `UTILITY`, `MARKETING`, `AUTHENTICATION`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub category: Option<Text>,
    /// `WHATSAPP` or `VIBER`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub template_type: Option<Text>,
    /// `pass`, `fail`, `auditing`, `unaudit`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub audit_status: Option<Text>,
    /// Why a template was rejected; free text, never a label.
    #[serde(default, deserialize_with = "lenient_text")]
    pub reason: Option<Text>,
    /// Last change: milliseconds since the epoch, or a date-time (the docs give no example).
    #[serde(default, deserialize_with = "lenient_text")]
    pub last_update_time: Option<Text>,
}

/// `GetChatappTemplateDetail` response body (cams-api.md §10).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateDetailResponse {
    /// Request ID, quoted in logs.
    #[serde(default, deserialize_with = "lenient_string")]
    pub request_id: Option<String>,
    /// `OK` on success.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// `false` means failure even with HTTP 200.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub success: Option<bool>,
    /// The template. Required on success.
    pub data: TemplateDetail,
}

/// What the exporter reads of a template's detail (the body, buttons... are skipped).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TemplateDetail {
    /// Meta's quality score: `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    #[serde(default, deserialize_with = "lenient_text")]
    pub quality_score: Option<Text>,
    /// The audit status at the time of the detail call.
    #[serde(default, deserialize_with = "lenient_text")]
    pub audit_status: Option<Text>,
}

/// Reads a list leniently: `null`, a scalar or an object read as empty, and an element that
/// is not an object is skipped, so one odd entry costs only itself.
fn lenient_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    struct ListVisitor<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<MaybeObject<T>>()? {
                out.extend(item.0);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Vec::new())
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(ListVisitor(std::marker::PhantomData))
}

/// A list element: the decoded object, or nothing for a scalar or a list.
struct MaybeObject<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MaybeObject<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = MaybeObject<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|t| MaybeObject(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeObject(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(MaybeObject(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MaybeObject(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeObject(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeObject(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeObject(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(MaybeObject(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Reads a JSON scalar as text: strings as-is, numbers and booleans as their JSON text,
/// anything else (null, arrays, objects) as absent.
fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text>, D::Error> {
    d.deserialize_any(LenientText)
}

/// [`lenient_text`] for the envelope fields, which end up in errors and logs as `String`s.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(lenient_text(d)?.map(String::from))
}

/// The visitor behind [`lenient_text`]: it reads the value in place, without building a
/// `serde_json::Value` first, and skips arrays and objects without keeping them.
struct LenientText;

impl<'de> Visitor<'de> for LenientText {
    type Value = Option<Text>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON scalar")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Text::new(v)))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Text::from(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Text::const_new(if v { "true" } else { "false" })))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_compact_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_compact_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // As serde_json prints it (JSON has no NaN or infinity, so `None` cannot happen).
        Ok(serde_json::Number::from_f64(v).map(|n| n.to_compact_string()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Reads whether a text field is set (not absent, not blank) without keeping its text.
fn lenient_present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(lenient_text(d)?.is_some_and(|s| !s.trim().is_empty()))
}

/// Reads `true`/`false` (or their string forms); anything else is absent.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match lenient_text(d)?.as_deref() {
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_scalar_types_are_tolerated() {
        let body = r#"{"Code":"OK","PhoneNumbers":[{"PhoneNumber":8613800000001,"Status":null,
            "QualityRating":{"x":1},"IsOfficial":true}]}"#;
        let r: PhoneNumbersResponse = serde_json::from_str(body).unwrap();
        let n = &r.phone_numbers[0];
        assert_eq!(n.phone_number.as_deref(), Some("8613800000001"));
        assert_eq!(n.status, None);
        assert_eq!(n.quality_rating, None);
        assert_eq!(n.is_official.as_deref(), Some("true"));
    }

    #[test]
    fn every_json_shape_reads_as_text_or_absent_and_the_next_field_survives() {
        // Nested containers are skipped without losing the fields after them; escaped and
        // long strings (unescaped into a scratch buffer; stored on the heap) and every number form
        // keep their text.
        let long = "N".repeat(100);
        let body = format!(
            r#"{{"Code":"OK","PhoneNumbers":[{{"VerifiedName":[1,[2,{{"a":[3]}}]],
            "Status":"FLA\u0047GED","QualityRating":-3,"MessagingLimitTier":2.5,
            "NameStatus":"{long}","CodeVerificationStatus":{{"k":[null,{{}}]}},
            "PhoneNumber":"8613800000001","IsOfficial":false}}]}}"#
        );
        let r: PhoneNumbersResponse = serde_json::from_str(&body).unwrap();
        let n = &r.phone_numbers[0];
        assert_eq!(n.verified_name, None);
        assert_eq!(n.status.as_deref(), Some("FLAGGED"));
        assert_eq!(n.quality_rating.as_deref(), Some("-3"));
        assert_eq!(n.messaging_limit_tier.as_deref(), Some("2.5"));
        assert_eq!(n.name_status.as_deref(), Some(long.as_str()));
        assert_eq!(n.code_verification_status, None);
        assert_eq!(n.phone_number.as_deref(), Some("8613800000001"));
        assert_eq!(n.is_official.as_deref(), Some("false"));
    }

    #[test]
    fn callback_urls_are_read_as_presence_only() {
        let body = r#"{"Code":"OK","PhoneNumbers":[
            {"StatusCallbackUrl":"https://h/cb?token=secret","UpCallbackUrl":"  "},
            {"StatusCallbackUrl":null,"UpCallbackUrl":42},
            {}]}"#;
        let r: PhoneNumbersResponse = serde_json::from_str(body).unwrap();
        let got: Vec<(bool, bool)> = r
            .phone_numbers
            .iter()
            .map(|n| (n.status_callback_url, n.up_callback_url))
            .collect();
        assert_eq!(got, [(true, false), (false, true), (false, false)]);
        assert!(!format!("{r:?}").contains("secret"));
    }

    #[test]
    fn health_answers_decode_leniently_but_need_data() {
        let body = r#"{"Code":"OK","Data":{"CanSendMessage":"BLOCKED","Entities":[
            {"EntityType":"PHONE_NUMBER","PhoneNumber":6580000003,"CanSendMessage":"BLOCKED",
             "Errors":[{"ErrorCode":141006,"ErrorDescription":"payment","PossibleSolution":"add one"},"odd",null]},
            "not an entity", 7,
            {"EntityType":"WABA","WabaId":"1","Errors":null}]}}"#;
        let r: HealthStatusResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.data.can_send_message.as_deref(), Some("BLOCKED"));
        assert_eq!(r.data.entities.len(), 2);
        let e = &r.data.entities[0];
        assert_eq!(e.phone_number.as_deref(), Some("6580000003"));
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].error_code.as_deref(), Some("141006"));
        assert!(r.data.entities[1].errors.is_empty());
        let r: HealthStatusResponse =
            serde_json::from_str(r#"{"Code":"OK","Data":{"Entities":{"x":1}}}"#).unwrap();
        assert!(r.data.entities.is_empty() && r.data.can_send_message.is_none());
        assert!(serde_json::from_str::<HealthStatusResponse>(r#"{"Code":"OK"}"#).is_err());
    }

    #[test]
    fn missing_list_is_an_error_not_an_empty_fleet() {
        assert!(serde_json::from_str::<PhoneNumbersResponse>(r#"{"Code":"OK"}"#).is_err());
        assert!(
            serde_json::from_str::<PhoneNumbersResponse>(r#"{"Code":"OK","PhoneNumbers":null}"#)
                .is_err()
        );
        let r: PhoneNumbersResponse =
            serde_json::from_str(r#"{"Code":"OK","PhoneNumbers":[]}"#).unwrap();
        assert!(r.phone_numbers.is_empty());
    }
}
