//! Durations as text with two decimals (`3.00` seconds, `12.34` ms), for the messages that copy
//! Lambda's wording. Written with integers: `{:.2}` of an `f64` links core's float printing
//! (about 12 KB of every binary with the local server) for three lines of text.

use std::time::Duration;

/// `d` in seconds, with two decimals (rounded to the nearest hundredth).
pub(crate) fn seconds(d: Duration) -> String {
    hundredths(d.as_millis(), 10)
}

/// `d` in milliseconds, with two decimals (rounded to the nearest hundredth).
pub(crate) fn millis(d: Duration) -> String {
    hundredths(d.as_micros(), 10)
}

/// `units / (100 * per_hundredth)` with two decimals.
fn hundredths(units: u128, per_hundredth: u128) -> String {
    let h = (units + per_hundredth / 2) / per_hundredth;
    format!("{}.{:02}", h / 100, h % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_lambda_writes_them() {
        assert_eq!(seconds(Duration::from_secs(3)), "3.00");
        assert_eq!(seconds(Duration::from_millis(1_234)), "1.23");
        assert_eq!(seconds(Duration::from_millis(1_235)), "1.24");
        assert_eq!(seconds(Duration::from_millis(999_995)), "1000.00");
        assert_eq!(millis(Duration::from_micros(12_345)), "12.35");
        assert_eq!(millis(Duration::from_micros(7)), "0.01");
        assert_eq!(millis(Duration::ZERO), "0.00");
    }
}
