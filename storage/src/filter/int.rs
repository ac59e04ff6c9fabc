//! Integer arithmetic over times, written once and both printed as SQL and evaluated in
//! memory, so timestamp getters and differences agree exactly everywhere. Times are Unix
//! nanoseconds (columns) or Kubernetes timestamp strings `YYYY-MM-DDTHH:MM:SSZ` (JSON),
//! whose digits are read by position. Division and remainder truncate, as in SQL.

use super::ir::{JsonPath, TimeField};

/// An integer-valued expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IntExpr {
    /// A time column in nanoseconds (NULL when absent).
    Nanos(TimeField),
    /// Digits `start..start+len` (1-based) of the Kubernetes timestamp at a JSON path.
    Digits(JsonPath, u8, u8),
    Lit(i64),
    Add(Box<IntExpr>, Box<IntExpr>),
    Sub(Box<IntExpr>, Box<IntExpr>),
    Mul(Box<IntExpr>, Box<IntExpr>),
    Div(Box<IntExpr>, Box<IntExpr>),
    Rem(Box<IntExpr>, Box<IntExpr>),
    /// `if a <= b { then } else { otherwise }`.
    IfLe(Box<IntExpr>, Box<IntExpr>, Box<IntExpr>, Box<IntExpr>),
}

use IntExpr::*;

fn lit(v: i64) -> IntExpr {
    Lit(v)
}
fn add(a: IntExpr, b: IntExpr) -> IntExpr {
    Add(Box::new(a), Box::new(b))
}
fn sub(a: IntExpr, b: IntExpr) -> IntExpr {
    Sub(Box::new(a), Box::new(b))
}
fn mul(a: IntExpr, b: IntExpr) -> IntExpr {
    Mul(Box::new(a), Box::new(b))
}
fn div(a: IntExpr, b: i64) -> IntExpr {
    Div(Box::new(a), Box::new(lit(b)))
}
fn rem(a: IntExpr, b: i64) -> IntExpr {
    Rem(Box::new(a), Box::new(lit(b)))
}
fn if_le(a: IntExpr, b: i64, then: IntExpr, otherwise: IntExpr) -> IntExpr {
    IfLe(
        Box::new(a),
        Box::new(lit(b)),
        Box::new(then),
        Box::new(otherwise),
    )
}

/// A CEL timestamp getter (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Getter {
    FullYear,
    /// 0-based.
    Month,
    /// 1-based.
    Date,
    /// 0-based.
    DayOfMonth,
    /// 0 = Sunday.
    DayOfWeek,
    Hours,
    Minutes,
    Seconds,
    Milliseconds,
}

impl Getter {
    /// The getter a CEL method name stands for.
    pub fn from_name(name: &str) -> Option<Getter> {
        Some(match name {
            "getFullYear" => Getter::FullYear,
            "getMonth" => Getter::Month,
            "getDate" => Getter::Date,
            "getDayOfMonth" => Getter::DayOfMonth,
            "getDayOfWeek" => Getter::DayOfWeek,
            "getHours" => Getter::Hours,
            "getMinutes" => Getter::Minutes,
            "getSeconds" => Getter::Seconds,
            "getMilliseconds" => Getter::Milliseconds,
            _ => return None,
        })
    }
}

/// Civil date (year, month 1-12, day 1-31) of a day number since 1970-01-01.
fn civil(days: IntExpr) -> (IntExpr, IntExpr, IntExpr) {
    let z = add(days, lit(719_468));
    let era = div(z.clone(), 146_097);
    let doe = sub(z, mul(era.clone(), lit(146_097)));
    let yoe = div(
        sub(
            add(
                sub(doe.clone(), div(doe.clone(), 1460)),
                div(doe.clone(), 36_524),
            ),
            div(doe.clone(), 146_096),
        ),
        365,
    );
    let doy = sub(
        doe,
        sub(
            add(mul(lit(365), yoe.clone()), div(yoe.clone(), 4)),
            div(yoe.clone(), 100),
        ),
    );
    let mp = div(add(mul(lit(5), doy.clone()), lit(2)), 153);
    let day = add(
        sub(doy, div(add(mul(lit(153), mp.clone()), lit(2)), 5)),
        lit(1),
    );
    let month = if_le(mp.clone(), 9, add(mp.clone(), lit(3)), sub(mp, lit(9)));
    let year = add(
        add(yoe, mul(era, lit(400))),
        if_le(month.clone(), 2, lit(1), lit(0)),
    );
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: IntExpr, month: IntExpr, day: IntExpr) -> IntExpr {
    let y = sub(year, if_le(month.clone(), 2, lit(1), lit(0)));
    let era = div(y.clone(), 400);
    let yoe = sub(y, mul(era.clone(), lit(400)));
    let mp = if_le(
        month.clone(),
        2,
        add(month.clone(), lit(9)),
        sub(month, lit(3)),
    );
    let doy = add(sub(div(add(mul(lit(153), mp), lit(2)), 5), lit(1)), day);
    let doe = add(
        sub(
            add(mul(yoe.clone(), lit(365)), div(yoe.clone(), 4)),
            div(yoe, 100),
        ),
        doy,
    );
    sub(add(mul(era, lit(146_097)), doe), lit(719_468))
}

/// Parts of a JSON Kubernetes timestamp: year, month, day, hours, minutes, seconds.
fn json_parts(path: &JsonPath) -> [IntExpr; 6] {
    let d = |start, len| Digits(path.clone(), start, len);
    [d(1, 4), d(6, 2), d(9, 2), d(12, 2), d(15, 2), d(18, 2)]
}

/// Unix seconds of a JSON Kubernetes timestamp.
pub(crate) fn json_epoch_seconds(path: &JsonPath) -> IntExpr {
    let [y, mo, d, h, mi, s] = json_parts(path);
    let days = days_from_civil(y, mo, d);
    add(
        add(
            add(mul(days, lit(86_400)), mul(h, lit(3600))),
            mul(mi, lit(60)),
        ),
        s,
    )
}

/// A getter of a time column.
pub(crate) fn column_getter(field: TimeField, getter: Getter) -> IntExpr {
    let ns = Nanos(field);
    let secs = div(ns.clone(), 1_000_000_000);
    let days = div(secs.clone(), 86_400);
    let (year, month, day) = civil(days.clone());
    match getter {
        Getter::FullYear => year,
        Getter::Month => sub(month, lit(1)),
        Getter::Date => day,
        Getter::DayOfMonth => sub(day, lit(1)),
        Getter::DayOfWeek => rem(add(days, lit(4)), 7),
        Getter::Hours => rem(div(secs, 3600), 24),
        Getter::Minutes => rem(div(secs, 60), 60),
        Getter::Seconds => rem(secs, 60),
        Getter::Milliseconds => rem(div(ns, 1_000_000), 1000),
    }
}

/// A getter of a JSON Kubernetes timestamp.
pub(crate) fn json_getter(path: &JsonPath, getter: Getter) -> IntExpr {
    let [y, mo, d, h, mi, s] = json_parts(path);
    match getter {
        Getter::FullYear => y,
        Getter::Month => sub(mo, lit(1)),
        Getter::Date => d,
        Getter::DayOfMonth => sub(d, lit(1)),
        Getter::DayOfWeek => rem(add(days_from_civil(y, mo, d), lit(4)), 7),
        Getter::Hours => h,
        Getter::Minutes => mi,
        Getter::Seconds => s,
        // Kubernetes timestamps have whole seconds; read them anyway, so that a missing or
        // malformed time leaves this unknown as every other getter does.
        Getter::Milliseconds => mul(s, lit(0)),
    }
}

impl IntExpr {
    /// Evaluates with `nanos` for columns and `digits` for JSON timestamps; `None` when a
    /// time is absent.
    pub fn eval(
        &self,
        nanos: &dyn Fn(TimeField) -> Option<i64>,
        digits: &dyn Fn(&JsonPath, u8, u8) -> Option<i64>,
    ) -> Option<i64> {
        let two = |a: &IntExpr, b: &IntExpr| Some((a.eval(nanos, digits)?, b.eval(nanos, digits)?));
        Some(match self {
            Nanos(f) => nanos(*f)?,
            Digits(path, start, len) => digits(path, *start, *len)?,
            Lit(v) => *v,
            Add(a, b) => two(a, b).map(|(a, b)| a.wrapping_add(b))?,
            Sub(a, b) => two(a, b).map(|(a, b)| a.wrapping_sub(b))?,
            Mul(a, b) => two(a, b).map(|(a, b)| a.wrapping_mul(b))?,
            Div(a, b) => two(a, b).map(|(a, b)| a / b)?,
            Rem(a, b) => two(a, b).map(|(a, b)| a % b)?,
            IfLe(a, b, then, otherwise) => {
                let (a, b) = two(a, b)?;
                if a <= b {
                    then.eval(nanos, digits)?
                } else {
                    otherwise.eval(nanos, digits)?
                }
            }
        })
    }

    /// The JSON timestamps this expression reads (each must have the Kubernetes form).
    pub fn json_paths(&self, out: &mut Vec<JsonPath>) {
        match self {
            Digits(path, ..) => {
                if !out.contains(path) {
                    out.push(path.clone());
                }
            }
            Nanos(_) | Lit(_) => {}
            Add(a, b) | Sub(a, b) | Mul(a, b) | Div(a, b) | Rem(a, b) => {
                a.json_paths(out);
                b.json_paths(out);
            }
            IfLe(a, b, c, d) => [a, b, c, d].into_iter().for_each(|e| e.json_paths(out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::ir::{JsonRoot, Step};
    use chrono::{Datelike, Timelike};

    #[test]
    fn getters_match_chrono() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2024-03-01T12:34:56Z",
            "2026-12-31T05:06:07Z",
            "2100-01-01T00:00:00Z",
        ] {
            let t = chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&chrono::Utc);
            let ns = t.timestamp_nanos_opt().unwrap() + 123_000_000;
            let nanos = |_: TimeField| Some(ns);
            let path = JsonPath {
                root: JsonRoot::Data,
                steps: vec![Step::Key("t".into())],
            };
            let digits = |_: &JsonPath, start: u8, len: u8| {
                text[start as usize - 1..(start + len) as usize - 1]
                    .parse()
                    .ok()
            };
            let expect = [
                (Getter::FullYear, t.year() as i64),
                (Getter::Month, t.month0() as i64),
                (Getter::Date, t.day() as i64),
                (Getter::DayOfMonth, t.day0() as i64),
                (Getter::DayOfWeek, t.weekday().num_days_from_sunday() as i64),
                (Getter::Hours, t.hour() as i64),
                (Getter::Minutes, t.minute() as i64),
                (Getter::Seconds, t.second() as i64),
            ];
            for (getter, value) in expect {
                assert_eq!(
                    column_getter(TimeField::CreateTime, getter).eval(&nanos, &digits),
                    Some(value),
                    "{text} {getter:?}"
                );
                assert_eq!(
                    json_getter(&path, getter).eval(&nanos, &digits),
                    Some(value),
                    "{text} {getter:?} (json)"
                );
            }
            assert_eq!(
                column_getter(TimeField::CreateTime, Getter::Milliseconds).eval(&nanos, &digits),
                Some(123)
            );
            assert_eq!(
                json_epoch_seconds(&path).eval(&nanos, &digits),
                Some(t.timestamp()),
                "{text}"
            );
        }
    }
}
