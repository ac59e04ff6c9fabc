//! `matches()`: regular expressions restricted to the syntax PostgreSQL (ARE), MariaDB
//! (PCRE2) and Rust's `regex` (SQLite and in-memory evaluation) read the same way, so a
//! pattern matches the same strings on every backend. Accepted: literal characters and
//! escaped metacharacters, `.`, `[...]` of characters and ranges, `^`, `$`, groups,
//! `|`, and repetitions. Perl classes (`\d`, `\w`, `\s`), Unicode classes, POSIX classes,
//! flags, word boundaries and other escapes are rejected (their meaning differs).
//!
//! Repetitions are also held to what every engine compiles: an operand that is itself a
//! repetition (`a**`, `a{2}{3}`; PCRE2 reads `a*+` as possessive) or an assertion (`^*`)
//! is refused (PostgreSQL: "quantifier operand invalid"; group it instead, `(a*)*`), and
//! so is a count above [`MAX_REPEAT`] (PostgreSQL's own limit).

use std::sync::{Arc, LazyLock};

use super::ir::K8S_TIME_REGEX;

use regex_syntax::ast::{self, Ast};

/// Longest pattern accepted.
const MAX_LEN: usize = 1024;
/// Largest count of a repetition (`a{255}`, `a{0,255}`): PostgreSQL refuses more
/// ("invalid repetition count(s)"); Rust's regex and PCRE2 accept more.
const MAX_REPEAT: u32 = 255;

/// A checked pattern with its spelling for each engine.
#[derive(Clone)]
pub(crate) struct Pattern {
    /// As written (PostgreSQL reads it as is).
    pub source: String,
    /// For Rust's regex (SQLite's `regexp()` and in-memory): dot matches newline.
    pub rust: String,
    /// For PCRE2: dot matches newline, `$` only at the very end.
    pub pcre: String,
    compiled: Arc<regex::Regex>,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Pattern {
    /// Checks `source` and prepares it for every engine.
    pub fn new(source: &str) -> Result<Pattern, String> {
        if source.len() > MAX_LEN {
            return Err(format!("the pattern is longer than {MAX_LEN} bytes"));
        }
        if source.contains('\0') {
            return Err("the pattern contains NUL".into());
        }
        let mut parsed = ast::parse::ParserBuilder::new()
            .nest_limit(32)
            .build()
            .parse(source)
            .map_err(|e| format!("invalid regular expression: {}", e.kind()))?;
        check(&parsed)?;
        let rust = format!("(?s){source}");
        end_text(&mut parsed);
        let pcre = format!("(?s){}", print(&parsed));
        let compiled = regex::RegexBuilder::new(&rust)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("invalid regular expression: {e}"))?;
        Ok(Pattern {
            source: source.to_owned(),
            rust,
            pcre,
            compiled: Arc::new(compiled),
        })
    }

    /// Whether `text` contains a match.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled.is_match(text)
    }

    /// [`K8S_TIME_REGEX`], the shape of a JSON time, spelled for every engine.
    pub(crate) fn k8s_time() -> &'static Pattern {
        static K8S_TIME: LazyLock<Pattern> = LazyLock::new(|| {
            Pattern::new(K8S_TIME_REGEX).expect("the time pattern is in the common subset")
        });
        &K8S_TIME
    }
}

fn print(ast: &Ast) -> String {
    let mut out = String::new();
    ast::print::Printer::new()
        .print(ast, &mut out)
        .expect("printing to a String cannot fail");
    out
}

/// `$` becomes `\z` (PCRE's `$` also matches before a final newline).
fn end_text(ast: &mut Ast) {
    match ast {
        Ast::Assertion(a) if a.kind == ast::AssertionKind::EndLine => {
            a.kind = ast::AssertionKind::EndText
        }
        Ast::Repetition(r) => end_text(&mut r.ast),
        Ast::Group(g) => end_text(&mut g.ast),
        Ast::Alternation(a) => a.asts.iter_mut().for_each(end_text),
        Ast::Concat(c) => c.asts.iter_mut().for_each(end_text),
        _ => {}
    }
}

fn check(node: &Ast) -> Result<(), String> {
    match node {
        Ast::Empty(_) | Ast::Dot(_) => Ok(()),
        Ast::Literal(l) => literal(l),
        Ast::Assertion(a) => match a.kind {
            ast::AssertionKind::StartLine | ast::AssertionKind::EndLine => Ok(()),
            _ => Err("only ^ and $ are supported as assertions (no \\b, \\A, \\z)".into()),
        },
        Ast::ClassUnicode(_) => Err("Unicode classes (\\p{…}) are not supported".into()),
        Ast::ClassPerl(_) => {
            Err("\\d, \\w and \\s are not supported; use [0-9], [a-zA-Z0-9_] or [ \\t\\n]".into())
        }
        Ast::ClassBracketed(c) => class_set(&c.kind),
        Ast::Repetition(r) => repetition(r),
        Ast::Group(g) => match &g.kind {
            ast::GroupKind::CaptureIndex(_) => check(&g.ast),
            ast::GroupKind::NonCapturing(flags) if flags.items.is_empty() => check(&g.ast),
            _ => Err("named groups and flags are not supported".into()),
        },
        Ast::Flags(_) => Err("flags are not supported".into()),
        Ast::Alternation(a) => a.asts.iter().try_for_each(check),
        Ast::Concat(c) => c.asts.iter().try_for_each(check),
    }
}

/// A repetition every engine reads the same: counts up to [`MAX_REPEAT`], and an operand
/// that is a character, class, dot or group (PostgreSQL refuses to repeat a repetition
/// or an assertion; PCRE2 reads `a*+` and `a?+` as possessive, `a++` likewise).
fn repetition(r: &ast::Repetition) -> Result<(), String> {
    // The parser refuses `{m,n}` with m > n, so n is the largest count.
    let largest = match r.op.kind {
        ast::RepetitionKind::Range(
            ast::RepetitionRange::Exactly(n)
            | ast::RepetitionRange::AtLeast(n)
            | ast::RepetitionRange::Bounded(_, n),
        ) => n,
        _ => 0,
    };
    if largest > MAX_REPEAT {
        return Err(format!(
            "the repetition count {largest} is too large; at most {MAX_REPEAT} is supported"
        ));
    }
    match &*r.ast {
        Ast::Repetition(_) => Err(
            "a repetition (*, +, ?, {n}) cannot directly follow another one (as in a** or \
             a{2}{3}); put the inner one in a group: (a*)*"
                .into(),
        ),
        Ast::Assertion(_) | Ast::Empty(_) => Err(
            "a repetition (*, +, ?, {n}) must follow a character, class or group, \
                 not ^ or $"
                .into(),
        ),
        inner => check(inner),
    }
}

fn literal(l: &ast::Literal) -> Result<(), String> {
    match l.kind {
        ast::LiteralKind::Verbatim | ast::LiteralKind::Meta => Ok(()),
        _ => Err(format!(
            "the escape for {:?} is not supported; write the character itself",
            l.c
        )),
    }
}

fn class_set(set: &ast::ClassSet) -> Result<(), String> {
    match set {
        ast::ClassSet::Item(item) => class_item(item),
        ast::ClassSet::BinaryOp(_) => {
            Err("class set operations (&&, --, ~~) are not supported".into())
        }
    }
}

fn class_item(item: &ast::ClassSetItem) -> Result<(), String> {
    match item {
        ast::ClassSetItem::Empty(_) => Ok(()),
        ast::ClassSetItem::Literal(l) => literal(l),
        ast::ClassSetItem::Range(r) => literal(&r.start).and(literal(&r.end)),
        ast::ClassSetItem::Union(u) => u.items.iter().try_for_each(class_item),
        ast::ClassSetItem::Ascii(_) => {
            Err("POSIX classes ([:alpha:]) are not supported; list the characters".into())
        }
        ast::ClassSetItem::Unicode(_) | ast::ClassSetItem::Perl(_) => {
            Err("classes like \\d or \\p{…} are not supported inside [...]".into())
        }
        ast::ClassSetItem::Bracketed(_) => Err("nested classes are not supported".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_common_subset() {
        for ok in [
            "^build-[0-9]+$",
            "a.c",
            "(foo|bar)+",
            "(?:x)?y{2,3}",
            "[^a-z_]",
            "\\.\\*",
            "ünï.ode",
            "[]a]",
            "(a*)*",
            "(?:a+)?",
            "()*",
            "(^)*",
            "a{255}",
            "a{0,255}",
            "(a{2}){3}",
            "a*?b+?",
        ] {
            assert!(
                Pattern::new(ok).is_ok(),
                "{ok}: {:?}",
                Pattern::new(ok).err()
            );
        }
        let p = Pattern::new("a$").unwrap();
        assert_eq!(p.pcre, "(?s)a\\z");
        assert!(p.is_match("xa") && !p.is_match("a\n"));
        assert!(
            Pattern::new("a.b").unwrap().is_match("a\nb"),
            "dot matches newline everywhere"
        );
    }

    #[test]
    fn rejects_what_engines_read_differently() {
        for (bad, needle) in [
            ("\\d+", "\\d, \\w"),
            ("\\bword", "assertions"),
            ("[[:alpha:]]", "POSIX"),
            ("(?i)x", "flags"),
            ("(?P<n>x)", "named groups"),
            ("\\x41", "escape"),
            ("\\p{L}", "Unicode"),
            ("(", "invalid regular expression"),
            ("a\0", "NUL"),
            ("^*", "not ^ or $"),
            ("$+", "not ^ or $"),
            ("a**", "cannot directly follow another one"),
            ("a+*", "cannot directly follow another one"),
            ("a?*", "cannot directly follow another one"),
            ("a*+", "cannot directly follow another one"),
            ("a{2}{3}", "cannot directly follow another one"),
            ("(a){2}{3}", "cannot directly follow another one"),
            ("x(^*)", "not ^ or $"),
            (
                "a{256}",
                "the repetition count 256 is too large; at most 255",
            ),
            ("a{1000}", "the repetition count 1000 is too large"),
            ("a{1,256}", "the repetition count 256 is too large"),
            ("a{256,}", "the repetition count 256 is too large"),
            ("(x|y{300})", "the repetition count 300 is too large"),
        ] {
            let err = Pattern::new(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
