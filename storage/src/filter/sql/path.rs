//! JSON paths for SQLite's and MySQL's JSON functions, which take a column and a path.

use super::super::ir::{JsonPath, Step};
use super::lower::Lower;

/// A JSON path: `$."key"[0]`. Keys never hold `"` or `\` (the checker refuses them), so
/// quoting them is enough.
pub(super) fn path_text(steps: &[Step]) -> String {
    let mut path = String::from("$");
    for step in steps {
        match step {
            Step::Key(k) => {
                path.push_str(".\"");
                path.push_str(k);
                path.push('"');
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

/// `open column, 'path' close`: a JSON function of the value at `path`.
pub(super) fn call(w: &mut Lower<'_>, open: &'static str, path: &JsonPath, close: &'static str) {
    let column = w.json_column(path.root);
    w.sql(open).col(column).sql(", ");
    w.f.text(path_text(&path.steps));
    w.sql(close);
}
