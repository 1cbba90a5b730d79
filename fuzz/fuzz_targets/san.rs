//! The DER walker behind `client_allowed_sans`: any bytes give names or `None`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(sans) = chatapp_exporter::web::san::subject_alt_names(data) {
        for san in sans {
            let _ = san.matches("127.0.0.1");
        }
    }
});
