//! UTC date-times as the remote protocols spell them (IRCv3 `time`, XEP-0082), from
//! milliseconds since the Unix epoch: one conversion for every network crate, no date crate.

/// `YYYY-MM-DDThh:mm:ss.sssZ`, or `YYYY-MM-DDThh:mm:ssZ` without `millis`.
pub fn timestamp(ms: u64, millis: bool) -> String {
    let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days);
    let secs = rem / 1000;
    let time = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    match millis {
        true => format!("{time}.{:03}Z", rem % 1000),
        false => format!("{time}Z"),
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(timestamp(0, true), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(951_825_600_500, true), "2000-02-29T12:00:00.500Z");
        assert_eq!(timestamp(951_825_600_500, false), "2000-02-29T12:00:00Z");
        assert_eq!(timestamp(1_796_601_600_000, false), "2026-12-07T00:00:00Z");
        assert_eq!(
            timestamp(4_102_444_799_999, true),
            "2099-12-31T23:59:59.999Z"
        );
    }
}
