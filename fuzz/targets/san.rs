//! The DER walker behind `client_allowed_sans`: any bytes give names or `None`, never a panic.

/// One input.
pub fn run(data: &[u8]) {
    if let Some(sans) = chatapp_exporter::web::san::subject_alt_names(data) {
        for san in sans {
            let _ = san.matches("127.0.0.1");
        }
    }
}
