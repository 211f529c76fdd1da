//! The AWS event-stream framing of `InvokeWithResponseStream` replies (protocol.md §9): what
//! boto3's `invoke_with_response_stream` and the AWS CLI's `invoke-with-response-stream` read.
//!
//! A message is `total length (u32 BE) | headers length (u32 BE) | CRC32 of those 8 bytes |
//! headers | payload | CRC32 of everything before it`. Each header is `name length (u8) |
//! name | value type (u8) | value`; the replies here use only string values (type 7: `u16 BE`
//! length, then UTF-8). The CRC is CRC-32 (IEEE), from `crc32fast`.
//!
//! Hand-written rather than taken from `aws-smithy-eventstream`: that crate needs Rust 1.94
//! (this workspace supports 1.89) and brings `aws-smithy-types` with it, for the 60 lines of
//! encoding used here.

/// Header value type: a string (`u16` length, then the bytes).
const STRING: u8 = 7;

/// `:content-type` of a `PayloadChunk`: the function's bytes, as they came.
const OCTET_STREAM: &str = "application/octet-stream";

/// One event-stream message with string headers.
fn message(headers: &[(&'static str, &'static str)], payload: &[u8]) -> Vec<u8> {
    let headers_len: usize = headers.iter().map(|(n, v)| 1 + n.len() + 1 + 2 + v.len()).sum();
    let total = 12 + headers_len + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&frame_len(total).to_be_bytes());
    out.extend_from_slice(&frame_len(headers_len).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
    for (name, value) in headers {
        // Names and values are this module's own short constants ('static): the casts hold.
        out.push(u8::try_from(name.len()).expect("header names are short constants"));
        out.extend_from_slice(name.as_bytes());
        out.push(STRING);
        out.extend_from_slice(
            &u16::try_from(value.len())
                .expect("header values are short constants")
                .to_be_bytes(),
        );
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
    out
}

/// Payloads come from streams of at most 200 MB, cut into read-sized pieces: far below 4 GiB.
fn frame_len(n: usize) -> u32 {
    u32::try_from(n).expect("an event-stream message is far smaller than 4 GiB")
}

fn event_headers(event_type: &'static str, content_type: &'static str) -> [(&'static str, &'static str); 3] {
    [
        (":event-type", event_type),
        (":content-type", content_type),
        (":message-type", "event"),
    ]
}

/// A `PayloadChunk` event carrying `bytes` of the function's response.
pub(crate) fn payload_chunk(bytes: &[u8]) -> Vec<u8> {
    message(&event_headers("PayloadChunk", OCTET_STREAM), bytes)
}

/// How a streamed invocation ended, for its `InvokeComplete` event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Completion {
    /// `ErrorCode`: the error type, when the invocation failed.
    pub(crate) error_code: Option<String>,
    /// `ErrorDetails`: the error message.
    pub(crate) error_details: Option<String>,
    /// `LogResult`: base64 of the invocation's last 4 KB of logs, when `X-Amz-Log-Type: Tail`.
    pub(crate) log_result: Option<String>,
}

/// The `InvokeComplete` event that ends every streamed invoke.
pub(crate) fn invoke_complete(completion: &Completion) -> Vec<u8> {
    let mut json = serde_json::Map::new();
    for (key, value) in [
        ("ErrorCode", &completion.error_code),
        ("ErrorDetails", &completion.error_details),
        ("LogResult", &completion.log_result),
    ] {
        if let Some(v) = value {
            json.insert(key.to_owned(), serde_json::Value::String(v.clone()));
        }
    }
    let payload = serde_json::Value::Object(json).to_string();
    message(&event_headers("InvokeComplete", "application/json"), payload.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes one message, checking both CRCs; returns its string headers and payload.
    fn decode(frame: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
        let word = |at: usize| u32::from_be_bytes(frame[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(word(0), frame.len(), "total length");
        assert_eq!(word(8) as u32, crc32fast::hash(&frame[..8]), "prelude CRC");
        let end = frame.len() - 4;
        assert_eq!(word(end) as u32, crc32fast::hash(&frame[..end]), "message CRC");
        let headers_end = 12 + word(4);
        let mut headers = Vec::new();
        let mut at = 12;
        while at < headers_end {
            let name_len = frame[at] as usize;
            let name = String::from_utf8(frame[at + 1..at + 1 + name_len].to_vec()).unwrap();
            at += 1 + name_len;
            assert_eq!(frame[at], STRING);
            let value_len = u16::from_be_bytes([frame[at + 1], frame[at + 2]]) as usize;
            let value = String::from_utf8(frame[at + 3..at + 3 + value_len].to_vec()).unwrap();
            at += 3 + value_len;
            headers.push((name, value));
        }
        (headers, frame[headers_end..end].to_vec())
    }

    #[test]
    fn empty_message_matches_the_specification_vector() {
        // `encoded/positive/empty_message` of the AWS event-stream test suite.
        assert_eq!(
            message(&[], b""),
            [0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff]
        );
    }

    #[test]
    fn payload_chunk_is_the_frame_botocore_decodes() {
        // These bytes decode with botocore's `EventStreamBuffer` (1.43) to a `PayloadChunk`
        // event whose payload is `hi`.
        let expected: &[u8] = &[
            0x00, 0x00, 0x00, 0x6c, 0x00, 0x00, 0x00, 0x5a, 0xb2, 0x5e, 0xfd, 0xcf, 0x0b, 0x3a, 0x65, 0x76, 0x65, 0x6e,
            0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x0c, 0x50, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64, 0x43, 0x68,
            0x75, 0x6e, 0x6b, 0x0d, 0x3a, 0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d, 0x74, 0x79, 0x70, 0x65, 0x07,
            0x00, 0x18, 0x61, 0x70, 0x70, 0x6c, 0x69, 0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2f, 0x6f, 0x63, 0x74, 0x65,
            0x74, 0x2d, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d, 0x0d, 0x3a, 0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x2d,
            0x74, 0x79, 0x70, 0x65, 0x07, 0x00, 0x05, 0x65, 0x76, 0x65, 0x6e, 0x74, 0x68, 0x69, 0x11, 0x62, 0xe4, 0x69,
        ];
        assert_eq!(payload_chunk(b"hi"), expected);
    }

    #[test]
    fn payload_chunks_carry_the_bytes_unchanged() {
        let bytes: Vec<u8> = (0..=255).collect();
        let (headers, payload) = decode(&payload_chunk(&bytes));
        assert_eq!(payload, bytes);
        assert!(headers.contains(&(":event-type".into(), "PayloadChunk".into())));
        assert!(headers.contains(&(":message-type".into(), "event".into())));
    }

    #[test]
    fn invoke_complete_names_only_what_happened() {
        let (headers, payload) = decode(&invoke_complete(&Completion::default()));
        assert!(headers.contains(&(":event-type".into(), "InvokeComplete".into())));
        assert_eq!(payload, b"{}");
        let failed = Completion {
            error_code: Some("Function.StreamFailed".into()),
            error_details: Some("failed after 2 chunks".into()),
            log_result: Some("U1RBUlQ=".into()),
        };
        let (_, payload) = decode(&invoke_complete(&failed));
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(json["ErrorCode"], "Function.StreamFailed");
        assert_eq!(json["ErrorDetails"], "failed after 2 chunks");
        assert_eq!(json["LogResult"], "U1RBUlQ=");
    }
}
