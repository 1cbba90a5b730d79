//! Serde DTOs for the two CAMS responses the exporter reads, and the error body.
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

use serde::{Deserialize, Deserializer};
use serde_json::Value;

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
    /// The `RequestId` field.
    fn request_id(&self) -> Option<&str>;
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
            fn request_id(&self) -> Option<&str> {
                self.request_id.as_deref()
            }
        }
    };
}
impl_api_response!(PhoneNumbersResponse);
impl_api_response!(BindWabaResponse);

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
    #[serde(default, deserialize_with = "lenient_string")]
    pub phone_number: Option<String>,
    /// Business display name approved by Meta; free text.
    #[serde(default, deserialize_with = "lenient_string")]
    pub verified_name: Option<String>,
    /// Operational state, e.g. `CONNECTED`, `FLAGGED`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    /// `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub quality_rating: Option<String>,
    /// Raw tier string in either vocabulary (`TIER_10` or `TIER_1K`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub messaging_limit_tier: Option<String>,
    /// Two-step verification state.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code_verification_status: Option<String>,
    /// Review state of the display name (`Approval`, `Pending_Review`, `Rejected`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub name_status: Option<String>,
    /// Review state of a pending name change; often empty.
    #[serde(default, deserialize_with = "lenient_string")]
    pub new_name_status: Option<String>,
    /// Whether a delivery-receipt callback URL is set. The URL itself is not kept: it may
    /// embed tokens, and only its presence is exported.
    #[serde(default, deserialize_with = "lenient_present")]
    pub status_callback_url: bool,
    /// Whether an inbound-message callback URL is set (the URL is not kept, as above).
    #[serde(default, deserialize_with = "lenient_present")]
    pub up_callback_url: bool,
    /// `Y` for an Official Business Account.
    #[serde(default, deserialize_with = "lenient_string")]
    pub is_official: Option<String>,
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
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// Registered business name.
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    /// Billing currency, e.g. `USD`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub currency: Option<String>,
    /// Meta's review decision: `APPROVED`, `PENDING`, `REJECTED`, `DISABLED`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub account_review_status: Option<String>,
    /// Namespace for message templates.
    #[serde(default, deserialize_with = "lenient_string")]
    pub message_template_namespace: Option<String>,
    /// Business platform ID.
    #[serde(default, deserialize_with = "lenient_string")]
    pub business_id: Option<String>,
    /// Business platform name.
    #[serde(default, deserialize_with = "lenient_string")]
    pub business_name: Option<String>,
}

/// Reads a JSON scalar as text: strings as-is, numbers and booleans as their JSON text,
/// anything else (null, arrays, objects) as absent.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    })
}

/// Reads whether a text field is set (not absent, not blank) without keeping its text.
fn lenient_present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(lenient_string(d)?.is_some_and(|s| !s.trim().is_empty()))
}

/// Reads `true`/`false` (or their string forms); anything else is absent.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
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
