//! Paging: page sizes, `order_by`, keyset cursors and signed page tokens.
//!
//! A page token carries the sort keys of the last row returned. The next page continues
//! strictly after it, so rows inserted between pages never cause a row to be skipped or
//! repeated. Tokens are HMAC-signed and bound to the parent, filter and order they were
//! issued for.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::limits::{check_len, MAX_PARAMETER_BYTES};
use crate::{Error, Result};

/// Page size used when the request asks for 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page a request may ask for.
pub const MAX_PAGE_SIZE: usize = 10_000;
/// Longest page token accepted (a real one is far shorter).
pub const MAX_TOKEN_LEN: usize = 4096;

/// Validates a requested page size: 0 → default, 1…10000, else InvalidArgument.
pub fn page_size(requested: i32) -> Result<usize> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n > 0 && (n as usize) <= MAX_PAGE_SIZE => Ok(n as usize),
        n => Err(Error::InvalidArgument(format!(
            "page_size {n} is out of range: use 1 to {MAX_PAGE_SIZE}, or 0 for the default of \
             {DEFAULT_PAGE_SIZE}"
        ))),
    }
}

/// A field a listing can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderField {
    /// `create_time`.
    CreateTime,
    /// `update_time`.
    UpdateTime,
    /// `summary.start_time` (Results only; may be absent).
    SummaryStartTime,
    /// `summary.end_time` (Results only; may be absent).
    SummaryEndTime,
}

impl OrderField {
    /// The name used in `order_by`.
    pub fn name(self) -> &'static str {
        match self {
            OrderField::CreateTime => "create_time",
            OrderField::UpdateTime => "update_time",
            OrderField::SummaryStartTime => "summary.start_time",
            OrderField::SummaryEndTime => "summary.end_time",
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// Which collection is listed: decides the fields `order_by` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// ListResults.
    Results,
    /// ListRecords.
    Records,
}

impl Collection {
    fn fields(self) -> &'static [OrderField] {
        match self {
            Collection::Results => &[
                OrderField::CreateTime,
                OrderField::UpdateTime,
                OrderField::SummaryStartTime,
                OrderField::SummaryEndTime,
            ],
            Collection::Records => &[OrderField::CreateTime, OrderField::UpdateTime],
        }
    }
}

/// A parsed `order_by`: sort keys, then the uid as tie-breaker in the last key's direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The keys, most significant first; never empty.
    pub keys: Vec<(OrderField, Direction)>,
}

impl Order {
    /// Parses `order_by`: comma-separated `<field> [asc|desc]`; empty = `create_time asc`.
    pub fn parse(order_by: &str, collection: Collection) -> Result<Order> {
        check_len("order_by", order_by, MAX_PARAMETER_BYTES)?;
        let allowed = || {
            collection
                .fields()
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if order_by.trim().is_empty() {
            return Ok(Order {
                keys: vec![(OrderField::CreateTime, Direction::Asc)],
            });
        }
        let mut keys = Vec::new();
        for clause in order_by.split(',') {
            let words: Vec<&str> = clause.split_whitespace().collect();
            let (field, direction) = match words[..] {
                [field] => (field, Direction::Asc),
                [field, dir] if dir.eq_ignore_ascii_case("asc") => (field, Direction::Asc),
                [field, dir] if dir.eq_ignore_ascii_case("desc") => (field, Direction::Desc),
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "order_by {order_by:?} is invalid: expected comma-separated \
                         \"<field> [asc|desc]\" with field one of {}",
                        allowed()
                    )))
                }
            };
            let Some(field) = collection.fields().iter().find(|f| f.name() == field) else {
                return Err(Error::InvalidArgument(format!(
                    "order_by field {field:?} is not supported; use one of {}",
                    allowed()
                )));
            };
            if keys.iter().any(|(f, _)| f == field) {
                return Err(Error::InvalidArgument(format!(
                    "order_by names {:?} twice",
                    field.name()
                )));
            }
            keys.push((*field, direction));
        }
        Ok(Order { keys })
    }

    /// A canonical text form, bound into page tokens.
    pub fn canonical(&self) -> String {
        self.keys
            .iter()
            .map(|(f, d)| {
                format!(
                    "{} {}",
                    f.name(),
                    if *d == Direction::Asc { "asc" } else { "desc" }
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Direction of the uid tie-breaker.
    pub fn tie_break(&self) -> Direction {
        self.keys.last().map_or(Direction::Asc, |(_, d)| *d)
    }
}

/// Position after the last row of a page: its sort key values and uid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// One value per order key (absent values are stored as `i64::MIN`).
    pub keys: Vec<i64>,
    /// The row's uid.
    pub uid: String,
}

/// What a page token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenScope {
    /// The request's parent, as given.
    pub parent: String,
    /// The request's filter, as given.
    pub filter: String,
    /// The canonical order.
    pub order: String,
}

#[derive(Serialize, Deserialize)]
struct TokenBody {
    scope: TokenScope,
    cursor: Cursor,
}

/// Signs and verifies page tokens with an HMAC-SHA256 key.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    /// A signer with the given secret key.
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        TokenSigner { key: key.into() }
    }

    /// A signer with a random key: tokens are valid only for this process's lifetime.
    pub fn random() -> Self {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        TokenSigner { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts any key length")
    }

    /// Issues a token that continues after `cursor` within `scope`.
    pub fn sign(&self, scope: &TokenScope, cursor: &Cursor) -> String {
        let body = serde_json::to_vec(&TokenBody {
            scope: scope.clone(),
            cursor: cursor.clone(),
        })
        .expect("token body serialises");
        let mut mac = self.mac();
        mac.update(&body);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(body),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks a token's signature and that it belongs to `scope`; returns its cursor.
    pub fn verify(&self, token: &str, scope: &TokenScope) -> Result<Cursor> {
        let invalid = |why: &str| Error::PageToken(why.to_owned());
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid(&format!(
                "{} bytes long; the limit is {MAX_TOKEN_LEN} bytes",
                token.len()
            )));
        }
        let (body, tag) = token.split_once('.').ok_or_else(|| invalid("malformed"))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| invalid("malformed"))?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| invalid("malformed"))?;
        let mut mac = self.mac();
        mac.update(&body);
        mac.verify_slice(&tag)
            .map_err(|_| invalid("not issued by this server, or altered"))?;
        let body: TokenBody = serde_json::from_slice(&body).map_err(|_| invalid("malformed"))?;
        if body.scope.parent != scope.parent {
            return Err(invalid("it was issued for another parent"));
        }
        if body.scope.filter != scope.filter {
            return Err(invalid("it was issued for another filter"));
        }
        if body.scope.order != scope.order {
            return Err(invalid("it was issued for another order_by"));
        }
        Ok(body.cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(1).unwrap(), 1);
        assert_eq!(page_size(10_000).unwrap(), 10_000);
        for bad in [-1, 10_001, i32::MIN, i32::MAX] {
            assert!(page_size(bad)
                .unwrap_err()
                .to_string()
                .contains("out of range"));
        }
    }

    #[test]
    fn parses_order_by() {
        let o = Order::parse(" update_time DESC , create_time", Collection::Results).unwrap();
        assert_eq!(
            o.keys,
            vec![
                (OrderField::UpdateTime, Direction::Desc),
                (OrderField::CreateTime, Direction::Asc)
            ]
        );
        assert_eq!(o.canonical(), "update_time desc,create_time asc");
        assert_eq!(
            Order::parse("", Collection::Records).unwrap().canonical(),
            "create_time asc"
        );
        let err = Order::parse("summary.start_time", Collection::Records).unwrap_err();
        assert!(
            err.to_string().contains("create_time, update_time"),
            "{err}"
        );
        assert!(Order::parse("summary.start_time", Collection::Results).is_ok());
        for bad in [
            "name",
            "create_time up",
            "create_time asc desc",
            "create_time,,",
            "create_time, create_time",
        ] {
            assert!(Order::parse(bad, Collection::Results).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_signed_and_bound() {
        let signer = TokenSigner::new(b"k".to_vec());
        let scope = TokenScope {
            parent: "ns".into(),
            filter: String::new(),
            order: "create_time asc".into(),
        };
        let cursor = Cursor {
            keys: vec![5],
            uid: "u".into(),
        };
        let token = signer.sign(&scope, &cursor);
        assert_eq!(signer.verify(&token, &scope).unwrap(), cursor);

        let other = TokenScope {
            parent: "other".into(),
            ..scope.clone()
        };
        assert!(signer
            .verify(&token, &other)
            .unwrap_err()
            .to_string()
            .contains("another parent"));
        let other = TokenScope {
            filter: "x".into(),
            ..scope.clone()
        };
        assert!(signer
            .verify(&token, &other)
            .unwrap_err()
            .to_string()
            .contains("another filter"));
        let foreign = TokenSigner::new(b"other key".to_vec()).sign(&scope, &cursor);
        assert!(signer.verify(&foreign, &scope).is_err());
        let mut tampered = token.clone().into_bytes();
        tampered[3] ^= 1;
        assert!(signer
            .verify(&String::from_utf8(tampered).unwrap(), &scope)
            .is_err());
        assert!(signer.verify("garbage", &scope).is_err());
    }
}
