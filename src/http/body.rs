//! Request bodies: one JSON object, within the size limit, no key twice.

use lambda_http::{Body, Request};
use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::Error;

/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The body as a JSON object of type `T`, within the size limit.
pub(crate) fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, Error> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => return Err(Error::MalformedBody),
    };
    parse_object(bytes)
}

/// `bytes` as a JSON object of type `T`. Refused: anything but an object
/// (serde would take an array for a struct), and any object, at any depth,
/// that names a key twice: JSON leaves duplicates undefined, and a proxy or
/// WAF that kept the first one would read another request than we do.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::BodyTooLarge);
    }
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(Error::MalformedBody);
    }
    let mut unique = serde_json::Deserializer::from_slice(bytes);
    unique.deserialize_any(UniqueKeys).map_err(|_| Error::MalformedBody)?;
    serde_json::from_slice(bytes).map_err(|_| Error::MalformedBody)
}

/// Walks any JSON value and fails on an object that repeats a key.
/// (serde_json's recursion limit bounds the depth.)
struct UniqueKeys;

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON without repeated keys")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unique)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !seen.insert(key) {
                return Err(serde::de::Error::custom("a key appears twice"));
            }
            map.next_value_seed(Unique)?;
        }
        Ok(())
    }
}

/// `UniqueKeys` as a seed, for the values inside arrays and objects.
struct Unique;

impl<'de> serde::de::DeserializeSeed<'de> for Unique {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(text: &str) -> Result<Value, Error> {
        parse_object(text.as_bytes())
    }

    #[test]
    fn objects_only() {
        assert!(parse(r#" {"loginId": "a"}"#).is_ok());
        for bad in [
            "",
            "null",
            "[]",
            r#"["a"]"#,
            "42",
            r#""{}""#,
            "{",
            r#"{"a":1} x"#,
            "not json",
        ] {
            assert_eq!(parse(bad), Err(Error::MalformedBody), "{bad:?}");
        }
    }

    #[test]
    fn a_key_twice_at_any_depth_is_refused() {
        assert!(parse(r#"{"a": {"b": 1, "c": [{"b": 2}, {"b": 3}]}, "b": 4}"#).is_ok());
        for bad in [
            r#"{"loginId": "a", "loginId": "b"}"#,
            r#"{"user": {"name": "a", "name": "b"}}"#,
            r#"{"o": {"customClaims": {"role": "user", "role": "admin"}}}"#,
            r#"{"o": [1, {"k": 1, "k": 1}]}"#,
            r#"{"a": 1, "\u0061": 2}"#,
        ] {
            assert_eq!(parse(bad), Err(Error::MalformedBody), "{bad}");
        }
    }

    #[test]
    fn a_body_of_exactly_the_limit_is_read() {
        let pad = MAX_BODY_BYTES - r#"{"p": ""}"#.len();
        let at_limit = format!(r#"{{"p": "{}"}}"#, "x".repeat(pad));
        assert_eq!(at_limit.len(), MAX_BODY_BYTES);
        assert!(parse(&at_limit).is_ok());
        let over = format!(r#"{{"p": "{}"}}"#, "x".repeat(pad + 1));
        assert_eq!(parse(&over), Err(Error::BodyTooLarge));
    }

    #[test]
    fn the_size_limit_is_checked_first() {
        let big = format!(r#"{{"p": "{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(parse(&big), Err(Error::BodyTooLarge));
        let nested = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        assert_eq!(parse(&nested), Err(Error::BodyTooLarge));
        let deep = format!(r#"{{"a": {}1{}}}"#, "[".repeat(1000), "]".repeat(1000));
        assert_eq!(
            parse(&deep),
            Err(Error::MalformedBody),
            "past serde_json's recursion limit"
        );
    }
}
