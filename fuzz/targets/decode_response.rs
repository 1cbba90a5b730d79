//! CAMS response decoding: any body, for every operation's DTO, gives the DTO or an error,
//! and what the phone-number and WABA DTOs hold converts into families the text encoder
//! renders (0.0.4 and OpenMetrics). Never a panic. The first byte picks the HTTP status class, so the error paths
//! are reached too.

use chatapp_exporter::api::client::interpret;
use chatapp_exporter::collect::discovery::ListInstanceResponse;
use chatapp_exporter::collect::health::HealthStatusResponse;
use chatapp_exporter::collect::phone_numbers::PhoneNumbersResponse;
use chatapp_exporter::collect::templates::{TemplateDetailResponse, TemplateListResponse};
use chatapp_exporter::collect::usage::{NumberMetricResponse, TemplateMetricResponse};
use chatapp_exporter::collect::waba::BindWabaResponse;
use chatapp_exporter::collect::{TierLimits, phone_numbers, waba};
use chatapp_exporter::metrics::exposition::openmetrics;
use chatapp_exporter::metrics::{AccountExposition, EnumMode};

/// One input.
pub fn run(data: &[u8]) {
    let (status, body) = match data.split_first() {
        Some((b, rest)) => ([200u16, 400, 403, 500][usize::from(*b) % 4], rest),
        None => (200, data),
    };
    if let Ok(r) = interpret::<PhoneNumbersResponse>(status, body, "sts", "LTAI-fuzz") {
        let (families, _) = phone_numbers::convert(
            "fuzz",
            &r.phone_numbers,
            &TierLimits::default(),
            "note",
            EnumMode::All,
        );
        encode(&families);
    }
    if let Ok(r) = interpret::<BindWabaResponse>(status, body, "sts", "LTAI-fuzz") {
        let mut unknown = Vec::new();
        encode(&waba::convert(
            "fuzz",
            &r.data,
            "note",
            EnumMode::All,
            &mut unknown,
        ));
    }
    let _ = interpret::<HealthStatusResponse>(status, body, "sts", "LTAI-fuzz");
    let _ = interpret::<TemplateListResponse>(status, body, "sts", "LTAI-fuzz");
    let _ = interpret::<TemplateDetailResponse>(status, body, "sts", "LTAI-fuzz");
    let _ = interpret::<NumberMetricResponse>(status, body, "sts", "LTAI-fuzz");
    let _ = interpret::<TemplateMetricResponse>(status, body, "sts", "LTAI-fuzz");
    let _ = interpret::<ListInstanceResponse>(status, body, "sts", "LTAI-fuzz");
}

/// Renders the families as `/metrics` does (a family left with no series is skipped there,
/// not an error), then converts that text to OpenMetrics as a Prometheus scrape would get it.
fn encode(families: &[prometheus::proto::MetricFamily]) {
    AccountExposition::render(families).expect("the exporter renders converted families");
    let mut text = Vec::new();
    for family in families.iter().filter(|f| !f.get_metric().is_empty()) {
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            std::slice::from_ref(family),
            &mut text,
        )
        .expect("converted families encode");
    }
    let _ = openmetrics::convert(&text);
}
