//! The HTTP-integration prelude of a streamed response (protocol.md §5): a JSON document
//! `{"statusCode", "headers", "cookies"}`, then 8 NUL bytes, then the payload. The prelude and
//! the NULs may arrive split over any number of chunks, or together with payload bytes.

use crate::http::{is_header_name, is_header_value};
use bytes::{Bytes, BytesMut};
use serde_json::Value;

/// The longest prelude accepted (JSON and separator).
pub(crate) const MAX_PRELUDE_BYTES: usize = 64 * 1024;

const SEPARATOR: [u8; 8] = [0; 8];

/// Headers a prelude may not set: the server frames the response itself.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "content-length",
    "keep-alive",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "set-cookie",
];

/// What the prelude asks of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prelude {
    pub(crate) status: u16,
    /// Lower-case names.
    pub(crate) headers: Vec<(String, String)>,
    /// One `Set-Cookie` each.
    pub(crate) cookies: Vec<String>,
}

/// Collects stream bytes until the prelude's separator.
#[derive(Debug, Default)]
pub(crate) struct PreludeReader {
    buf: BytesMut,
}

impl PreludeReader {
    /// Adds bytes. `Ok(Some((prelude, rest)))` once the separator has arrived, `rest` being
    /// the payload bytes after it; `Ok(None)` while more are needed.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<Option<(Prelude, Bytes)>, String> {
        // The separator may straddle the previous data and this one.
        let from = self.buf.len().saturating_sub(SEPARATOR.len() - 1);
        self.buf.extend_from_slice(data);
        let found = self.buf[from..]
            .windows(SEPARATOR.len())
            .position(|w| w == SEPARATOR)
            .map(|i| from + i);
        let Some(at) = found else {
            if self.buf.len() > MAX_PRELUDE_BYTES {
                return Err(format!(
                    "no prelude separator (8 NUL bytes) within the first {MAX_PRELUDE_BYTES} bytes"
                ));
            }
            return Ok(None);
        };
        if at > MAX_PRELUDE_BYTES {
            return Err(format!("the prelude is over {MAX_PRELUDE_BYTES} bytes"));
        }
        let prelude = parse(&self.buf[..at])?;
        let rest = self.buf.split_off(at + SEPARATOR.len()).freeze();
        Ok(Some((prelude, rest)))
    }

    /// Whether any byte has arrived.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Parses the prelude JSON.
pub(crate) fn parse(json: &[u8]) -> Result<Prelude, String> {
    let value: Value = serde_json::from_slice(json).map_err(|e| format!("the prelude is not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("the prelude is not a JSON object".to_owned());
    };
    let status = match map.get("statusCode") {
        None | Some(Value::Null) => 200,
        Some(v) => match v.as_u64() {
            Some(code @ 200..=599) => code as u16,
            _ => return Err(format!("the prelude's statusCode {v} is not a status from 200 to 599")),
        },
    };
    let mut headers = Vec::new();
    match map.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(fields)) => {
            for (name, value) in fields {
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => return Err(format!("the prelude's header {name:?} has the non-text value {other}")),
                };
                if !is_header_name(name) || !is_header_value(&value) {
                    return Err(format!(
                        "the prelude's header {name:?}: {value:?} is not a valid HTTP header"
                    ));
                }
                let name = name.to_ascii_lowercase();
                if !HOP_BY_HOP.contains(&name.as_str()) {
                    headers.push((name, value));
                }
            }
        }
        Some(other) => return Err(format!("the prelude's headers {other} are not an object")),
    }
    let mut cookies = Vec::new();
    match map.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                match item.as_str() {
                    Some(c) if is_header_value(c) => cookies.push(c.to_owned()),
                    _ => return Err(format!("the prelude's cookie {item} is not a valid Set-Cookie value")),
                }
            }
        }
        Some(other) => return Err(format!("the prelude's cookies {other} are not an array")),
    }
    Ok(Prelude {
        status,
        headers,
        cookies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &[u8] =
        br#"{"statusCode":418,"headers":{"Content-Type":"text/plain","X-Tea":"yes","Content-Length":"9"},"cookies":["a=1","b=2; Secure"]}"#;

    fn expected() -> Prelude {
        Prelude {
            status: 418,
            headers: vec![
                ("content-type".into(), "text/plain".into()),
                ("x-tea".into(), "yes".into()),
            ],
            cookies: vec!["a=1".into(), "b=2; Secure".into()],
        }
    }

    #[test]
    fn prelude_and_payload_in_one_piece() {
        let mut all = JSON.to_vec();
        all.extend_from_slice(&[0; 8]);
        all.extend_from_slice(b"hello");
        let (prelude, rest) = PreludeReader::default().push(&all).unwrap().unwrap();
        assert_eq!(prelude, expected());
        assert_eq!(&rest[..], b"hello");
    }

    #[test]
    fn separator_split_over_every_boundary() {
        let mut all = JSON.to_vec();
        all.extend_from_slice(&[0; 8]);
        all.extend_from_slice(b"xy");
        for cut in 1..all.len() {
            let mut reader = PreludeReader::default();
            let first = reader.push(&all[..cut]).unwrap();
            let complete_at_once = first.is_some();
            let (prelude, rest) = match first {
                Some(done) => done,
                None => reader.push(&all[cut..]).unwrap().expect("complete"),
            };
            assert_eq!(prelude, expected(), "cut at {cut}");
            let mut payload = rest.to_vec();
            if complete_at_once {
                payload.extend_from_slice(&all[cut..]);
            }
            assert_eq!(payload, b"xy", "cut at {cut}");
        }
    }

    #[test]
    fn byte_by_byte() {
        let mut all = br#"{"statusCode":201}"#.to_vec();
        all.extend_from_slice(&[0; 8]);
        let mut reader = PreludeReader::default();
        let mut done = None;
        for b in &all {
            assert!(done.is_none());
            done = reader.push(&[*b]).unwrap();
        }
        let (prelude, rest) = done.unwrap();
        assert_eq!(prelude.status, 201);
        assert!(prelude.headers.is_empty() && prelude.cookies.is_empty() && rest.is_empty());
    }

    #[test]
    fn bad_preludes_are_explained() {
        for (json, words) in [
            (&b"not json"[..], "not JSON"),
            (b"[1]", "not a JSON object"),
            (br#"{"statusCode":99}"#, "statusCode"),
            (br#"{"statusCode":"200"}"#, "statusCode"),
            (br#"{"headers":{"bad name":"x"}}"#, "not a valid HTTP header"),
            (br#"{"headers":{"x":"a\r\nb"}}"#, "not a valid HTTP header"),
            (br#"{"cookies":[1]}"#, "cookie"),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(words), "{err}");
        }
        let endless = vec![b' '; MAX_PRELUDE_BYTES + 1];
        assert!(PreludeReader::default()
            .push(&endless)
            .unwrap_err()
            .contains("separator"));
    }
}
