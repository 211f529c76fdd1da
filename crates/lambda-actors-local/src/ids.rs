//! Fresh request ids, invocation ids and X-Ray trace headers, without a random-number crate.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Makes ids that are unique within the process and unpredictable enough for a local server:
/// a counter hashed with SipHash under random keys (what `RandomState` holds).
#[derive(Debug)]
pub(crate) struct IdGen {
    counter: AtomicU64,
    keys: [RandomState; 2],
}

impl IdGen {
    pub(crate) fn new() -> Self {
        Self {
            counter: AtomicU64::new(0),
            keys: [RandomState::new(), RandomState::new()],
        }
    }

    fn next_u128(&self) -> u128 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let word = |keys: &RandomState| {
            let mut h = keys.build_hasher();
            h.write_u64(n);
            h.write_u128(nanos);
            h.finish()
        };
        (u128::from(word(&self.keys[0])) << 64) | u128::from(word(&self.keys[1]))
    }

    /// A version-4 style UUID, as Lambda's request ids are.
    pub(crate) fn uuid(&self) -> String {
        let v = self.next_u128();
        let v = (v & !(0xf << 76)) | (0x4 << 76); // version 4
        let v = (v & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
        let hex = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }

    /// An X-Ray trace header: `Root=1-{epoch seconds}-{96 bits};Parent={64 bits};Sampled=0`.
    pub(crate) fn trace_header(&self) -> String {
        let v = self.next_u128();
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            secs as u32,
            v >> 32,
            (v as u64) ^ (v >> 64) as u64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_well_formed_and_distinct() {
        let ids = IdGen::new();
        let a = ids.uuid();
        let b = ids.uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn trace_headers_have_the_xray_shape() {
        let t = IdGen::new().trace_header();
        let parts: Vec<_> = t.split(';').collect();
        assert_eq!(parts.len(), 3, "{t}");
        let root = parts[0].strip_prefix("Root=1-").unwrap();
        assert_eq!(root.len(), 8 + 1 + 24, "{t}");
        assert_eq!(parts[1].len(), "Parent=".len() + 16, "{t}");
        assert_eq!(parts[2], "Sampled=0");
    }
}
