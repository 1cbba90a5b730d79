//! `--web.config.file` parsing and checking: any text gives a spec or an error naming a key.
//! (Parsing reads no files; the base directory does not exist.)

/// One input.
pub fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = chatapp_exporter::web::parse(text, std::path::Path::new("/nonexistent"));
    }
}
