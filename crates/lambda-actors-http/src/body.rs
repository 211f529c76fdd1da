//! The body of an HTTP request or response.

use std::ops::Deref;

/// The body of a [`Request`](crate::Request) or of the `http::Response` a handler returns.
///
/// A request body the event marks base64 (`isBase64Encoded`) arrives decoded, as
/// [`Body::Binary`]; any other body arrives as [`Body::Text`]. In a response, a
/// [`Body::Text`] is sent as it is and a [`Body::Binary`] is sent base64-encoded (with
/// `isBase64Encoded: true`) unless its `Content-Type` is textual and the bytes are UTF-8.
///
/// ```
/// use lambda_actors_http::Body;
///
/// let body = Body::from("hello");
/// assert_eq!(body.as_bytes(), b"hello");
/// assert_eq!(Body::from(vec![0xff, 0x00]).len(), 2);
/// assert!(Body::Empty.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A UTF-8 body.
    Text(String),
    /// Bytes; base64 on the wire.
    Binary(Vec<u8>),
}

impl Body {
    /// The bytes of the body (empty for [`Body::Empty`]).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Empty => &[],
            Body::Text(s) => s.as_bytes(),
            Body::Binary(b) => b,
        }
    }

    /// The body as text, when it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Body::Empty => Some(""),
            Body::Text(s) => Some(s),
            Body::Binary(b) => std::str::from_utf8(b).ok(),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Body::Empty => Vec::new(),
            Body::Text(s) => s.into_bytes(),
            Body::Binary(b) => b,
        }
    }
}

impl Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::Empty
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Self {
        Body::Text(s.to_owned())
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Text(s)
    }
}

impl From<&[u8]> for Body {
    fn from(b: &[u8]) -> Self {
        Body::Binary(b.to_vec())
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::Binary(b)
    }
}

impl From<lambda_actors::Bytes> for Body {
    fn from(b: lambda_actors::Bytes) -> Self {
        Body::Binary(b.to_vec())
    }
}

impl From<Body> for lambda_actors::Bytes {
    fn from(b: Body) -> Self {
        lambda_actors::Bytes::from(b.into_bytes())
    }
}
