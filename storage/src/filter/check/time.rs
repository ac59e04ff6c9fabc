//! Time literals: RFC 3339 timestamps and CEL durations.

/// RFC 3339 to Unix nanoseconds.
pub(super) fn parse_timestamp(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()?
        .timestamp_nanos_opt()
}

/// CEL/Go durations: optional sign, then number+unit pairs (h, m, s, ms, us, µs, ns).
pub(super) fn parse_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let (unit, nanos) = [
            ("ns", 1.0),
            ("us", 1e3),
            ("µs", 1e3),
            ("ms", 1e6),
            ("h", 3.6e12),
            ("m", 6e10),
            ("s", 1e9),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total += number * nanos;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total.round() as i64;
    Some(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::ir::CmpOp;

    #[test]
    fn timestamps_against_kubernetes_strings() {
        use crate::filter::ir::{is_k8s_time, TimeTest};
        assert!(is_k8s_time("2024-01-02T03:04:05Z"));
        for bad in [
            "2024-01-02T03:04:05.1Z",
            "2024-01-02 03:04:05Z",
            "2024-01-02T03:04:05+00:00",
            "",
            "x",
            // The form, but no time.
            "2026-13-01T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-32T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:60Z",
            "9999-99-99T00:00:00Z",
        ] {
            assert!(!is_k8s_time(bad), "{bad}");
        }
        for good in [
            "2024-02-29T23:59:59Z",
            "2026-12-31T00:00:00Z",
            "2026-04-30T12:00:00Z",
            "0000-01-01T00:00:00Z",
        ] {
            assert!(is_k8s_time(good), "{good}");
        }
        // The regular expression the SQL dialects use says the same.
        let regex = crate::filter::regex::Pattern::k8s_time();
        for year in [2023, 2024] {
            for month in 0..=13 {
                for d in [0, 1, 28, 29, 30, 31, 32] {
                    let text = format!("{year:04}-{month:02}-{d:02}T23:59:59Z");
                    assert_eq!(regex.is_match(&text), is_k8s_time(&text), "{text}");
                }
            }
        }
        for text in [
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00Z\n",
        ] {
            assert_eq!(regex.is_match(text), is_k8s_time(text), "{text:?}");
        }
        let t = parse_timestamp("2024-01-02T03:04:05Z").unwrap();
        let s = "2024-01-02T03:04:05Z".to_string();
        assert_eq!(
            TimeTest::new(CmpOp::Ge, t),
            TimeTest::Cmp(CmpOp::Ge, s.clone())
        );
        // 03:04:05.5: a whole-second value is never equal, and >= means > 03:04:05.
        let half = t + 500_000_000;
        assert_eq!(TimeTest::new(CmpOp::Eq, half), TimeTest::Const(false));
        assert_eq!(TimeTest::new(CmpOp::Ne, half), TimeTest::Const(true));
        assert_eq!(
            TimeTest::new(CmpOp::Ge, half),
            TimeTest::Cmp(CmpOp::Gt, s.clone())
        );
        assert_eq!(
            TimeTest::new(CmpOp::Lt, half),
            TimeTest::Cmp(CmpOp::Le, s.clone())
        );
        assert_eq!(
            TimeTest::new(CmpOp::Gt, half),
            TimeTest::Cmp(CmpOp::Gt, s.clone())
        );
        assert_eq!(TimeTest::new(CmpOp::Le, half), TimeTest::Cmp(CmpOp::Le, s));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("-2.5s"), Some(-2_500_000_000));
        assert_eq!(parse_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("1d"), None);
    }
}
