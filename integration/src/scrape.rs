//! A scrape of a Prometheus text endpoint (`/metrics`), to read single samples by name
//! and labels.

use std::collections::BTreeMap;

/// One scrape: every sample line, parsed.
#[derive(Debug, Clone)]
pub struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// Parses `text` in the Prometheus text format; panics on a line it cannot read.
    pub fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value in {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("bad labels in {line:?}"));
                    (name, parse_labels(body, line))
                }
                None => (series, BTreeMap::new()),
            };
            samples.push((name.to_owned(), labels, value));
        }
        Scrape {
            text: text.to_owned(),
            samples,
        }
    }

    /// The values of the samples named `name` with (at least) `labels`.
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = f64> + 'a {
        self.samples
            .iter()
            .filter(move |(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
    }

    /// The value of the one sample named `name` with (at least) `labels`; `None` when no
    /// sample matches. Panics when several do.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<f64> = self.matching(name, labels).collect();
        assert!(
            found.len() <= 1,
            "{} samples of {name} with {labels:?}",
            found.len()
        );
        found.first().copied()
    }

    /// The sum of every sample named `name` with (at least) `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).sum()
    }

    /// The label sets of the samples named `name`.
    pub fn series(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        self.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, l, _)| l.clone())
            .collect()
    }

    /// The scraped text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn parse_labels(mut body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !body.is_empty() {
        let (key, rest) = body
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label in {line:?}"));
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("bad escape in {line:?}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label in {line:?}"),
            }
        };
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        body = rest[end + 1..].trim_start_matches(',');
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_by_name_and_labels() {
        let scrape = Scrape::parse(
            "# HELP a_total A.\n# TYPE a_total counter\n\
             a_total{code=\"OK\",route=\"/x/{p}\"} 3\na_total{code=\"NotFound\",route=\"/x/{p}\"} 1\n\
             b 2.5\nc{v=\"q\\\"uote,d\"} 1\n",
        );
        assert_eq!(scrape.value("a_total", &[("code", "OK")]), Some(3.0));
        assert_eq!(scrape.sum("a_total", &[("route", "/x/{p}")]), 4.0);
        assert_eq!(scrape.value("b", &[]), Some(2.5));
        assert_eq!(scrape.value("c", &[("v", "q\"uote,d")]), Some(1.0));
        assert_eq!(scrape.value("a_total", &[("code", "Internal")]), None);
    }
}
