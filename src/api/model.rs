//! What every CAMS response shares, and the lenient field readers the operations' DTOs use.
//!
//! Each operation's response DTO lives with the collector that calls it (as node_exporter
//! keeps a collector's parsing in its file); this module holds the envelope every answer
//! carries ([`Envelope`]), the trait the client decodes into ([`ApiResponse`], implemented
//! with [`crate::api_response!`]), and the readers that make decoding lenient per field and
//! strict per shape: unknown fields are ignored, a string field that arrives as a number or
//! boolean is kept as its text, and `null` or an object where a string belongs reads as
//! absent. A DTO's list itself must be there: an `OK` answer without it is rejected rather
//! than read as empty, because that would make every number vanish from /metrics.
//! Only data lives here: no Prometheus knowledge.

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

/// A successful response body: the payload plus the envelope fields that decide success
/// (declared with [`crate::api_response!`]).
pub trait ApiResponse: serde::de::DeserializeOwned {
    /// The `Code` field.
    fn code(&self) -> Option<&str>;
    /// The `Success` field.
    fn success(&self) -> Option<bool>;
}

/// Declares a response DTO: the struct, with the envelope's `request_id`, `code` and `success`
/// fields added in front of the operation's own, and its [`ApiResponse`] implementation. The
/// fields are repeated in each body rather than `#[serde(flatten)]`ed, because flattening
/// buffers the whole document and doubles decoding time on large fleets. The module that
/// invokes it must have [`lenient_string`] and [`lenient_bool`] in scope (serde resolves
/// `deserialize_with` where the struct is declared).
///
/// ```ignore
/// use crate::api::model::{lenient_bool, lenient_string};
/// crate::api_response! {
///     /// `DoSomething` response body.
///     pub struct DoSomethingResponse {
///         /// The payload. Required on success.
///         pub data: Something,
///     }
/// }
/// ```
#[macro_export]
macro_rules! api_response {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($fields:tt)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            /// Request ID, quoted in logs.
            #[serde(default, deserialize_with = "lenient_string")]
            pub request_id: Option<String>,
            /// `OK` on success.
            #[serde(default, deserialize_with = "lenient_string")]
            pub code: Option<String>,
            /// `false` means failure even with HTTP 200.
            #[serde(default, deserialize_with = "lenient_bool")]
            pub success: Option<bool>,
            $($fields)*
        }

        impl $crate::api::model::ApiResponse for $name {
            fn code(&self) -> Option<&str> {
                self.code.as_deref()
            }
            fn success(&self) -> Option<bool> {
                self.success
            }
        }
    };
}

/// Reads a list leniently: `null`, a scalar or an object read as empty, and an element that
/// is not an object is skipped, so one odd entry costs only itself.
pub fn lenient_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
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
pub fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text>, D::Error> {
    d.deserialize_any(LenientText)
}

/// [`lenient_text`] for the envelope fields, which end up in errors and logs as `String`s.
pub fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
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
pub fn lenient_present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(lenient_text(d)?.is_some_and(|s| !s.trim().is_empty()))
}

/// Reads `true`/`false` (or their string forms); anything else is absent.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match lenient_text(d)?.as_deref() {
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    })
}
