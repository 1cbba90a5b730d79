//! A collector's own settings: the typed block it declares, read from `collectors.<name>` of
//! the configuration file (top level and per account), and the type-erased value the
//! scheduler carries to it.
//!
//! `enabled` and `interval` are every collector's and are read by [`crate::config`]; every
//! other key of the block belongs to the collector, whose [`SettingsBlock`] type rejects
//! unknown keys and checks its values, so that an error names the key
//! (`collectors.phone_numbers.tier_limits.TIER_10: ...`). The value reaches the collector's
//! run as one argument; its `Debug` text is what a reload compares, so a changed setting
//! restarts the account without anyone keeping a list of fields.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

/// The typed settings block of a collector.
pub trait SettingsBlock: DeserializeOwned + Default + fmt::Debug + Send + Sync + 'static {
    /// Checks what serde cannot (ranges, consistency).
    fn check(&self) -> Result<(), SettingsError> {
        Ok(())
    }
}

/// The settings of a collector that has none beyond `enabled` and `interval`: any other key
/// is an error.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

impl SettingsBlock for NoSettings {}

/// A setting that is wrong, with its key relative to the collector's block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    /// The key within the block (`tier_limits.TIER_10`); empty for the block itself.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl SettingsError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Decodes and checks a collector's block (the keys other than `enabled` and `interval`).
pub fn parse<S: SettingsBlock>(block: serde_yaml_ng::Mapping) -> Result<S, SettingsError> {
    let value = serde_yaml_ng::Value::Mapping(block);
    let settings: S = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." { String::new() } else { path };
        let mut message = crate::wire::clean_message(&e.into_inner().to_string());
        if message.starts_with("unknown field") {
            message.push_str("; every collector block also takes `enabled` and `interval`");
        }
        SettingsError::new(key, message)
    })?;
    settings.check()?;
    Ok(settings)
}

/// A collector's settings with their type erased, as configuration and scheduler carry them.
/// Two values are equal when their `Debug` text is: that is what a reload compares.
#[derive(Clone)]
pub struct AnySettings {
    value: Arc<dyn Any + Send + Sync>,
    debug: Arc<str>,
}

impl AnySettings {
    /// Wraps typed settings.
    pub fn new<S: SettingsBlock>(settings: S) -> Self {
        AnySettings {
            debug: format!("{settings:?}").into(),
            value: Arc::new(settings),
        }
    }

    /// The typed settings, if they are an `S`.
    pub fn get<S: SettingsBlock>(&self) -> Option<&S> {
        self.value.downcast_ref()
    }
}

impl fmt::Debug for AnySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.debug)
    }
}

impl PartialEq for AnySettings {
    fn eq(&self, other: &Self) -> bool {
        self.debug == other.debug
    }
}

impl Eq for AnySettings {}

/// Another collector whose published results a collector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// Its name.
    pub collector: &'static str,
    /// True when the collector cannot work without it (enabling it alone is a
    /// configuration error); false when only a part is skipped.
    pub required: bool,
    /// What is read, or what is skipped without it, in words for the error or the summary.
    pub why: &'static str,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Limits {
        #[serde(default)]
        limits: BTreeMap<String, f64>,
    }

    impl SettingsBlock for Limits {
        fn check(&self) -> Result<(), SettingsError> {
            match self.limits.iter().find(|(_, v)| **v < 0.0) {
                Some((k, _)) => Err(SettingsError::new(format!("limits.{k}"), "negative")),
                None => Ok(()),
            }
        }
    }

    fn yaml(text: &str) -> serde_yaml_ng::Mapping {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn errors_name_the_key_within_the_block() {
        let e = parse::<Limits>(yaml("limits: {a: x}")).unwrap_err();
        assert_eq!(e.key, "limits.a", "{e}");
        let e = parse::<Limits>(yaml("limitz: {}")).unwrap_err();
        assert_eq!(e.key, "limitz", "{e}");
        assert!(e.message.contains("unknown field `limitz`"), "{e}");
        let e = parse::<Limits>(yaml("limits: {b: -1}")).unwrap_err();
        assert_eq!(e.to_string(), "limits.b: negative");
        let e = parse::<NoSettings>(yaml("lookback: 1h")).unwrap_err();
        assert!(e.message.contains("unknown field `lookback`"), "{e}");
        assert!(parse::<NoSettings>(serde_yaml_ng::Mapping::new()).is_ok());
    }

    #[test]
    fn equal_when_their_debug_text_is() {
        let a = AnySettings::new(parse::<Limits>(yaml("limits: {a: 1}")).unwrap());
        let b = AnySettings::new(parse::<Limits>(yaml("limits: {a: 1}")).unwrap());
        let c = AnySettings::new(parse::<Limits>(yaml("limits: {a: 2}")).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.get::<Limits>().unwrap().limits["a"], 1.0);
        assert!(a.get::<NoSettings>().is_none());
    }
}
