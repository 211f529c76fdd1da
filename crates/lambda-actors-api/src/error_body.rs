//! The JSON body of `/error` and `/init/error`, and the error-type header.

use serde::Serialize;
use std::borrow::Cow;

/// The most bytes an error body may take: Managed Instances accept 1 MiB on `/error`.
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// `{"errorMessage": ..., "errorType": ..., "stackTrace": [...]}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    #[serde(rename = "errorMessage")]
    pub error_message: String,
    /// A short name: `ValidationError`, `Runtime.UnmarshalError`.
    #[serde(rename = "errorType")]
    pub error_type: String,
    /// The cause chain, outermost first.
    #[serde(rename = "stackTrace")]
    pub stack_trace: Vec<String>,
}

impl ErrorBody {
    /// A body with no stack trace.
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Self {
            error_message: error_message.into(),
            error_type: error_type.into(),
            stack_trace: Vec::new(),
        }
    }

    /// The JSON bytes, cut to fit the 1 MiB that Lambda accepts: the stack trace goes first,
    /// then the message is shortened (on a character boundary), never the error type.
    pub fn to_json(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("an error body is always serialisable");
        if json.len() <= MAX_ERROR_BODY {
            return json;
        }
        let mut cut = self.clone();
        cut.stack_trace.clear();
        let budget = MAX_ERROR_BODY / 2;
        if cut.error_message.len() > budget {
            let mut end = budget;
            while !cut.error_message.is_char_boundary(end) {
                end -= 1;
            }
            cut.error_message.truncate(end);
            cut.error_message.push_str("… (truncated)");
        }
        serde_json::to_vec(&cut).expect("an error body is always serialisable")
    }

    /// The value for the `Lambda-Runtime-Function-Error-Type` header.
    pub fn header_type(&self) -> Cow<'_, str> {
        header_error_type(&self.error_type)
    }
}

/// Maps an error type to the `(Runtime|Function).Reason` form Lambda accepts in the header:
/// `Runtime.UnmarshalError` stays, `ValidationError` becomes `Function.ValidationError`, and
/// anything else (`my error`, `io::Error`) becomes `Function.Unknown` so Lambda does not
/// rewrite it behind the caller's back. The JSON body keeps the original text either way.
pub fn header_error_type(error_type: &str) -> Cow<'_, str> {
    let is_reason = |s: &str| {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphabetic())
    };
    if let Some((head, reason)) = error_type.split_once('.') {
        if (head == "Runtime" || head == "Function") && is_reason(reason) {
            return Cow::Borrowed(error_type);
        }
    } else if is_reason(error_type) {
        return Cow::Owned(format!("Function.{error_type}"));
    }
    Cow::Borrowed("Function.Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_type_follows_lambda_form() {
        assert_eq!(header_error_type("Runtime.UnmarshalError"), "Runtime.UnmarshalError");
        assert_eq!(header_error_type("Function.Timeout"), "Function.Timeout");
        assert_eq!(header_error_type("ValidationError"), "Function.ValidationError");
        assert_eq!(header_error_type("validation"), "Function.Unknown");
        assert_eq!(header_error_type("io::Error"), "Function.Unknown");
        assert_eq!(header_error_type("Other.Thing"), "Function.Unknown");
        assert_eq!(header_error_type("Bad1"), "Function.Unknown");
        assert_eq!(header_error_type(""), "Function.Unknown");
    }

    #[test]
    fn body_has_lambda_field_names() {
        let mut body = ErrorBody::new("ValidationError", "name is empty");
        body.stack_trace.push("caused by: x".into());
        let v: serde_json::Value = serde_json::from_slice(&body.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"errorMessage": "name is empty", "errorType": "ValidationError", "stackTrace": ["caused by: x"]})
        );
    }

    #[test]
    fn huge_bodies_are_cut_to_fit() {
        let mut body = ErrorBody::new("Big", "é".repeat(2 * MAX_ERROR_BODY));
        body.stack_trace = vec!["x".repeat(MAX_ERROR_BODY)];
        let json = body.to_json();
        assert!(json.len() <= MAX_ERROR_BODY, "{}", json.len());
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["errorType"], "Big");
        assert!(v["errorMessage"].as_str().unwrap().ends_with("(truncated)"));
    }
}
