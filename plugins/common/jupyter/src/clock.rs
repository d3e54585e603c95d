//! The `date` of message headers (ISO 8601, UTC, microseconds), without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `2024-01-31T12:34:56.123456Z`.
pub fn iso8601_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    iso8601(since.as_secs(), since.subsec_micros())
}

fn iso8601(secs: u64, micros: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_dates() {
        assert_eq!(super::iso8601(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            super::iso8601(951_827_696, 7),
            "2000-02-29T12:34:56.000007Z"
        );
        assert_eq!(
            super::iso8601(1_767_225_599, 999_999),
            "2025-12-31T23:59:59.999999Z"
        );
    }
}
