//! Benchmark harness for lambda-actors (not published).
//!
//! `cargo run --release -p lambda-actors-bench` runs lambda-actors' `hello`, the same hello on
//! `lambda_runtime` 1.5 (`bench/lambda-runtime-hello`) and a raw-socket floor (`raw-floor`)
//! in turn against a fast mock Runtime API ([`mock`]), and prints medians and ratios as
//! markdown. See `docs/benchmarks.md`. Benchmarks report; they never pass or fail a test.

pub mod http;
pub mod idle;
pub mod mock;
pub mod procfs;
pub mod run;

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
