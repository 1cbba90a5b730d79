//! CAMS response decoding: any body, for every operation, must give a DTO or an error, and
//! whatever the phone-number and WABA DTOs hold must convert into families the text encoder
//! accepts. Never a panic.
#![no_main]

use chatapp_exporter::api::client::interpret;
use chatapp_exporter::collect::health::HealthStatusResponse;
use chatapp_exporter::collect::phone_numbers::PhoneNumbersResponse;
use chatapp_exporter::collect::templates::{TemplateDetailResponse, TemplateListResponse};
use chatapp_exporter::collect::waba::BindWabaResponse;
use chatapp_exporter::collect::{TierLimits, phone_numbers, waba};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data.split_first() {
        // The first byte picks the HTTP status class, so error paths are reached too.
        Some((b, rest)) => ([200u16, 400, 403, 500][usize::from(*b) % 4], rest),
        None => (200, data),
    };
    if let Ok(r) = interpret::<PhoneNumbersResponse>(status, body, "sts", "LTAI-fuzz") {
        let (families, _) =
            phone_numbers::convert(
            "fuzz",
            &r.phone_numbers,
            &TierLimits::default(),
            "note",
            chatapp_exporter::metrics::EnumMode::All,
        );
        let mut out = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &families, &mut out)
            .expect("converted families encode");
    }
    if let Ok(r) = interpret::<BindWabaResponse>(status, body, "sts", "LTAI-fuzz") {
        let mut unknown = Vec::new();
        let families = waba::convert(
            "fuzz",
            &r.data,
            "note",
            chatapp_exporter::metrics::EnumMode::All,
            &mut unknown,
        );
        let mut out = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &families, &mut out)
            .expect("converted families encode");
    }
    let _ = interpret::<HealthStatusResponse>(status, body, "sts", "LTAI-fuzz");
    let _ = interpret::<TemplateListResponse>(status, body, "sts", "LTAI-fuzz");
    let _ = interpret::<TemplateDetailResponse>(status, body, "sts", "LTAI-fuzz");
});
