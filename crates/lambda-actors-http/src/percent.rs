//! Percent-encoding for building a URI out of an event's path and query, on the `url` crate's
//! own encoders (`percent-encoding`, `form_urlencoded`): only the character sets are ours.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a query-string name or value is encoded with: everything but the unreserved
/// characters (RFC 3986 §2.3).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// What a path is encoded with: it keeps the unreserved characters, the sub-delims, `:`, `@`,
/// `/` and `%` (a path that is already encoded stays as it is).
const PATH: &AsciiSet = &COMPONENT
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@')
    .remove(b'/')
    .remove(b'%');

/// What a raw (already encoded) query string is encoded with: a path's set, and `?`.
const RAW_QUERY: &AsciiSet = &PATH.remove(b'?');

/// Encodes what a URI path may not hold (spaces, non-ASCII, `?`, `#`...).
pub(crate) fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH).to_string()
}

/// Encodes a decoded query-string name or value: everything but the unreserved characters.
pub(crate) fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Keeps the characters a query string may hold as they are (it is already encoded) and
/// encodes the rest.
pub(crate) fn encode_raw_query(query: &str) -> String {
    utf8_percent_encode(query, RAW_QUERY).to_string()
}

/// The `name=value` pairs of a query string, decoded (`+` is a space; a bad escape stays as
/// it is), in order.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_round_trip() {
        assert_eq!(encode_path("/a b/ü?#"), "/a%20b/%C3%BC%3F%23");
        assert_eq!(encode_path("/already%20encoded/x@y:z"), "/already%20encoded/x@y:z");
        assert_eq!(encode_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            parse_query("a=1&b=x%20y&flag&&c=%26&d=a+b%2Fd%C3%A9%zz%4"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("flag".into(), "".into()),
                ("c".into(), "&".into()),
                ("d".into(), "a b/dé%zz%4".into())
            ]
        );
        assert_eq!(encode_raw_query("a=1&b=x y"), "a=1&b=x%20y");
    }
}
