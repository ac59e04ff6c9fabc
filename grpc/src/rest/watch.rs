//! Watch streams over HTTP: newline-delimited JSON events in the Kubernetes style,
//! `{"type":"ADDED","revision":"12","object":{…}}`, or server-sent events when the client
//! accepts `text/event-stream` (`event:` the type, `id:` the revision, so that a browser's
//! reconnect resumes by itself through `Last-Event-ID`). A stream the server ends gets a
//! last `ERROR` event with the error as an API error body (`{code, message, details}`).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures::StreamExt;
use serde::Serialize;

use super::handlers::RestError;
use crate::pb::v1alpha2 as pb;
use crate::service::WatchStream;

/// How events are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Ndjson,
    Sse,
}

impl Framing {
    fn of(req: &HttpRequest) -> Framing {
        let sse = req
            .headers()
            .get_all(header::ACCEPT)
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/event-stream"));
        if sse {
            Framing::Sse
        } else {
            Framing::Ndjson
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Framing::Ndjson => "application/x-ndjson",
            Framing::Sse => "text/event-stream",
        }
    }

    /// One event: its type, revision and JSON body.
    fn frame(self, kind: &str, revision: Option<i64>, body: &serde_json::Value) -> Bytes {
        let mut out = Vec::with_capacity(256);
        match self {
            Framing::Ndjson => {
                // Serialising a Value cannot fail.
                let _ = serde_json::to_writer(&mut out, body);
                out.push(b'\n');
            }
            Framing::Sse => {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(kind.as_bytes());
                out.push(b'\n');
                if let Some(revision) = revision {
                    out.extend_from_slice(format!("id: {revision}\n").as_bytes());
                }
                out.extend_from_slice(b"data: ");
                let _ = serde_json::to_writer(&mut out, body);
                out.extend_from_slice(b"\n\n");
            }
        }
        Bytes::from(out)
    }
}

fn type_name(event_type: i32) -> &'static str {
    match pb::EventType::try_from(event_type) {
        Ok(pb::EventType::Added) => "ADDED",
        Ok(pb::EventType::Modified) => "MODIFIED",
        Ok(pb::EventType::Deleted) => "DELETED",
        Ok(pb::EventType::Bookmark) => "BOOKMARK",
        _ => "UNKNOWN",
    }
}

/// Answers `stream` as an HTTP stream; `parts` takes an event apart into its type,
/// revision and object (as a Get answers it).
pub(super) fn respond<T, J>(
    req: &HttpRequest,
    stream: WatchStream<T>,
    parts: fn(T) -> (i32, i64, Option<J>),
) -> HttpResponse
where
    T: Send + 'static,
    J: Serialize + 'static,
{
    let framing = Framing::of(req);
    let body = stream.into_stream().map(move |event| {
        let bytes = match event {
            Ok(event) => {
                let (event_type, revision, object) = parts(event);
                let kind = type_name(event_type);
                let mut body = serde_json::json!({
                    "type": kind,
                    // As proto3 JSON writes an int64: a string.
                    "revision": revision.to_string(),
                });
                if let Some(object) = object {
                    body["object"] = serde_json::to_value(object).unwrap_or_default();
                }
                framing.frame(kind, Some(revision), &body)
            }
            Err(e) => {
                let error = RestError::from(e);
                let body = serde_json::json!({
                    "type": "ERROR",
                    "object": {
                        "code": error.code as i32,
                        "message": error.message,
                        "details": [],
                    },
                });
                framing.frame("ERROR", None, &body)
            }
        };
        Ok::<_, actix_web::Error>(bytes)
    });
    HttpResponse::Ok()
        .content_type(framing.content_type())
        // Proxies must pass each event on as it comes.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}
