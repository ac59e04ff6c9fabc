//! A change as a CloudEvent (JSON, structured mode) and its HMAC signature: what a webhook
//! sink POSTs.

use hmac::{Hmac, Mac};
use results_storage::model::{Change, ChangeKind, ChangedObject, Timestamp};
use serde_json::{json, Value};
use sha2::Sha256;

/// The `Content-Type` of a structured-mode CloudEvent in JSON.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// The header carrying the signature, `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Results-Signature";

/// The REST path prefix that `source` starts with.
const SOURCE_PREFIX: &str = "/apis/results.tekton.dev/v1alpha2/parents/";

/// The CloudEvent `type` of a change: `dev.tekton.results.<record|result>.<added|modified|deleted>.v1`.
pub fn event_type(change: &Change) -> &'static str {
    match (&change.object, change.kind) {
        (ChangedObject::Result(_), ChangeKind::Added) => "dev.tekton.results.result.added.v1",
        (ChangedObject::Result(_), ChangeKind::Modified) => "dev.tekton.results.result.modified.v1",
        (ChangedObject::Result(_), ChangeKind::Deleted) => "dev.tekton.results.result.deleted.v1",
        (ChangedObject::Record(_), ChangeKind::Added) => "dev.tekton.results.record.added.v1",
        (ChangedObject::Record(_), ChangeKind::Modified) => "dev.tekton.results.record.modified.v1",
        (ChangedObject::Record(_), ChangeKind::Deleted) => "dev.tekton.results.record.deleted.v1",
    }
}

/// The full name of the changed object (`<ns>/results/<r>[/records/<x>]`).
fn subject(object: &ChangedObject) -> String {
    match object {
        ChangedObject::Result(r) => r.name.to_string(),
        ChangedObject::Record(r) => r.name.to_string(),
    }
}

/// RFC 3339 in UTC with as many fractional digits as needed.
pub fn rfc3339(t: Timestamp) -> String {
    let (seconds, nanos) = t.to_parts();
    chrono::DateTime::from_timestamp(seconds, nanos as u32)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// The body of the CloudEvent of `change`, `data` being the object as a REST Get answers it.
/// `id` is the change's revision: with `source` it identifies the event, so a receiver can
/// drop the repeats that at-least-once delivery may bring.
pub fn body(change: &Change, data: Value) -> Vec<u8> {
    let event = json!({
        "specversion": "1.0",
        "id": change.revision.to_string(),
        "source": format!("{SOURCE_PREFIX}{}", change.object.parent()),
        "type": event_type(change),
        "subject": subject(&change.object),
        "time": rfc3339(change.time),
        "datacontenttype": "application/json",
        "data": data,
    });
    // Serialising a Value cannot fail.
    serde_json::to_vec(&event).unwrap_or_default()
}

/// The value of [`SIGNATURE_HEADER`] for `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use results_storage::model::{RecordData, RecordName, StoredRecord};

    fn change() -> Change {
        Change {
            revision: 42,
            time: Timestamp::from_nanos(1_700_000_000_123_000_000),
            kind: ChangeKind::Deleted,
            object: ChangedObject::Record(StoredRecord {
                name: RecordName {
                    parent: "ns".into(),
                    result: "r".into(),
                    record: "x".into(),
                },
                uid: "u".into(),
                data: RecordData {
                    type_: "t".into(),
                    value: b"{}".to_vec(),
                },
                create_time: Timestamp::from_nanos(0),
                update_time: Timestamp::from_nanos(0),
            }),
        }
    }

    #[test]
    fn the_event_carries_the_cloudevent_attributes() {
        let body = body(&change(), json!({"name": "ns/results/r/records/x"}));
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["id"], "42");
        assert_eq!(
            event["source"],
            "/apis/results.tekton.dev/v1alpha2/parents/ns"
        );
        assert_eq!(event["type"], "dev.tekton.results.record.deleted.v1");
        assert_eq!(event["subject"], "ns/results/r/records/x");
        assert_eq!(event["time"], "2023-11-14T22:13:20.123Z");
        assert_eq!(event["data"]["name"], "ns/results/r/records/x");
    }

    #[test]
    fn signature_is_the_hex_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
