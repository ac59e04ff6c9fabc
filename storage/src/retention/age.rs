//! Humane durations for retention settings: `30d`, `12h`, `1w2d`, `90m`, `45s`, or
//! `forever` (keep). Checked at start-up; at most 100 years.

use std::time::Duration;

/// The longest age a policy accepts (larger values are surely typos).
pub const MAX_AGE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How long a rule keeps what it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxAge {
    /// Deleted once this old (measured from completion, else creation).
    After(Duration),
    /// Never deleted.
    Forever,
}

impl MaxAge {
    /// Parses `forever` or a duration (see [`parse_duration`]).
    pub fn parse(text: &str) -> Result<MaxAge, String> {
        match text.trim() {
            "forever" | "keep" => Ok(MaxAge::Forever),
            other => parse_duration(other).map(MaxAge::After),
        }
    }

    /// The age, or `None` for forever.
    pub fn duration(self) -> Option<Duration> {
        match self {
            MaxAge::After(d) => Some(d),
            MaxAge::Forever => None,
        }
    }
}

/// Parses one or more `<number><unit>` pairs, unit `s`, `m`, `h`, `d` or `w`
/// (`1d12h`); the total must be positive and at most [`MAX_AGE`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration: write e.g. \"30d\", \"12h\", \"1w2d\" or \"90m\" \
             (units s, m, h, d, w), or \"forever\""
        )
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        if digits.is_empty() || digits.len() > 12 {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    let total = Duration::from_secs(total);
    if total.is_zero() {
        return Err(format!("{text:?} must be longer than 0"));
    }
    if total > MAX_AGE {
        return Err(format!("{text:?} is longer than 100 years"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let day = 86_400;
        for (text, secs) in [
            ("30d", 30 * day),
            ("12h", 12 * 3600),
            ("1w2d", 9 * day),
            ("90m", 5400),
            ("45s", 45),
            (" 1d12h ", day + 12 * 3600),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in [
            "",
            "30",
            "d",
            "3x",
            "1.5d",
            "-1d",
            "0d",
            "101000d",
            "99999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(MaxAge::parse("forever"), Ok(MaxAge::Forever));
        assert_eq!(
            MaxAge::parse("2h"),
            Ok(MaxAge::After(Duration::from_secs(7200)))
        );
    }
}
