//! Just enough percent-encoding for building a URI out of an event's path and query.

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters a path may hold as they are: unreserved, sub-delims, `:`, `@`, `/` and `%`
/// (a path that is already encoded stays as it is).
fn is_path_char(b: u8) -> bool {
    is_unreserved(b) || b"!$&'()*+,;=:@/%".contains(&b)
}

fn push_encoded(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0xf)] as char);
}

/// Encodes what a URI path may not hold (spaces, non-ASCII, `?`, `#`...).
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if is_path_char(b) {
            out.push(b as char);
        } else {
            push_encoded(&mut out, b);
        }
    }
    out
}

/// Encodes a decoded query-string name or value: everything but the unreserved characters.
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            push_encoded(&mut out, b);
        }
    }
    out
}

/// Keeps the characters a query string may hold as they are (it is already encoded) and
/// encodes the rest.
pub(crate) fn encode_raw_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for &b in query.as_bytes() {
        if is_path_char(b) || b == b'?' {
            out.push(b as char);
        } else {
            push_encoded(&mut out, b);
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a query-string name or value (`+` is a space; a bad escape stays as it is).
pub(crate) fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `name=value` pairs of a query string, decoded, in order.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(name), decode_component(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_round_trip() {
        assert_eq!(encode_path("/a b/ü?#"), "/a%20b/%C3%BC%3F%23");
        assert_eq!(encode_path("/already%20encoded/x@y:z"), "/already%20encoded/x@y:z");
        assert_eq!(encode_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(decode_component("a+b%20c%2Fd%C3%A9%zz%4"), "a b c/dé%zz%4");
        assert_eq!(
            parse_query("a=1&b=x%20y&flag&&c=%26"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("flag".into(), "".into()),
                ("c".into(), "&".into())
            ]
        );
        assert_eq!(encode_raw_query("a=1&b=x y"), "a=1&b=x%20y");
    }
}
