//! `QueryChatappPhoneNumbers`' response, as the official SDK models it
//! (`alibabacloud_cams20200606/models/_query_chatapp_phone_numbers_response_body.py`,
//! cams-api.md §3), read with the lenient field readers of [`crate::api::model`].

use serde::Deserialize;

use crate::api::model::{Text, lenient_bool, lenient_present, lenient_string, lenient_text};

crate::api_response! {
    /// `QueryChatappPhoneNumbers` response body.
    pub struct PhoneNumbersResponse {
        /// The full list of numbers (the API has no pagination). Required: an `OK` answer
        /// without it is rejected, not read as "no numbers" (every number would vanish).
        pub phone_numbers: Vec<PhoneNumber>,
    }
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
