//! The proto3 JSON mapping of the REST gateway: proto field names, unset fields omitted,
//! `bytes` as base64, enums by name, RFC 3339 timestamps, unknown input fields ignored.

use std::collections::BTreeMap;
use std::str::FromStr;

use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::pb::v1alpha2 as pb;
use crate::pb::v1alpha2::record_summary::Status;

/// An RFC 3339 timestamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Time(pub prost_types::Timestamp);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        prost_types::Timestamp::from_str(&text)
            .map(Time)
            .map_err(|_| D::Error::custom(format!("{text:?} is not an RFC 3339 timestamp")))
    }
}

fn time(t: Option<prost_types::Timestamp>) -> Option<Time> {
    t.map(Time)
}

/// A `Result`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResultJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "createdTime")]
    pub created_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "createTime")]
    pub create_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "updatedTime")]
    pub updated_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "updateTime")]
    pub update_time: Option<Time>,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub etag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummaryJson>,
}

/// A `RecordSummary`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SummaryJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub record: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "startTime")]
    pub start_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "endTime")]
    pub end_time: Option<Time>,
    #[serde(serialize_with = "status_name", deserialize_with = "status_value")]
    pub status: i32,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// A `Record`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<AnyJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub etag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "createdTime")]
    pub created_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "createTime")]
    pub create_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "updatedTime")]
    pub updated_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(alias = "updateTime")]
    pub update_time: Option<Time>,
}

/// This package's `Any`: a type and a base64 JSON document.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AnyJson {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[serde(
        serialize_with = "base64_out",
        deserialize_with = "base64_in",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub value: Vec<u8>,
}

/// `ListResultsResponse`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ListResultsJson {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ResultJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    #[serde(alias = "nextPageToken")]
    pub next_page_token: String,
}

/// `ListRecordsResponse`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ListRecordsJson {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    #[serde(alias = "nextPageToken")]
    pub next_page_token: String,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn status_name<S: Serializer>(status: &i32, s: S) -> Result<S::Ok, S::Error> {
    match Status::try_from(*status) {
        Ok(known) => s.serialize_str(known.as_str_name()),
        Err(_) => s.serialize_i32(*status),
    }
}

fn status_value<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(0),
        serde_json::Value::String(name) => Status::from_str_name(&name)
            .map(|s| s as i32)
            .ok_or_else(|| D::Error::custom(format!("unknown summary status {name:?}"))),
        serde_json::Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| D::Error::custom("summary status out of range")),
        _ => Err(D::Error::custom(
            "summary status must be a name or a number",
        )),
    }
}

/// Base64 written straight into the answer, without a copy of the encoded text.
fn base64_out<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&base64::display::Base64Display::new(bytes, &STANDARD))
}

/// Input base64 as protojson reads it: padded or not.
const PADDING_OPTIONAL: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_IN: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, PADDING_OPTIONAL);
const URL_SAFE_IN: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, PADDING_OPTIONAL);

/// Base64 (standard or URL-safe, padded or not, as protojson reads it) decoded from the
/// request body in place: the encoded
/// text is borrowed, not copied (documents are the bulk of a request). `null` is empty.
fn base64_in<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct Base64;

    impl<'de> serde::de::Visitor<'de> for Base64 {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a base64 string")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
            STANDARD_IN
                .decode(text)
                .or_else(|_| URL_SAFE_IN.decode(text))
                .map_err(|_| E::custom("data.value must be base64"))
        }

        fn visit_unit<E>(self) -> Result<Vec<u8>, E> {
            Ok(Vec::new())
        }
    }

    d.deserialize_any(Base64)
}

impl From<pb::Result> for ResultJson {
    fn from(r: pb::Result) -> Self {
        ResultJson {
            name: r.name,
            id: r.id,
            uid: r.uid,
            created_time: time(r.created_time),
            create_time: time(r.create_time),
            updated_time: time(r.updated_time),
            update_time: time(r.update_time),
            annotations: r.annotations.into_iter().collect(),
            etag: r.etag,
            summary: r.summary.map(|s| SummaryJson {
                record: s.record,
                type_: s.r#type,
                start_time: time(s.start_time),
                end_time: time(s.end_time),
                status: s.status,
                annotations: s.annotations.into_iter().collect(),
            }),
        }
    }
}

impl From<ResultJson> for pb::Result {
    fn from(r: ResultJson) -> Self {
        pb::Result {
            name: r.name,
            id: r.id,
            uid: r.uid,
            created_time: r.created_time.map(|t| t.0),
            create_time: r.create_time.map(|t| t.0),
            updated_time: r.updated_time.map(|t| t.0),
            update_time: r.update_time.map(|t| t.0),
            annotations: r.annotations.into_iter().collect(),
            etag: r.etag,
            summary: r.summary.map(|s| pb::RecordSummary {
                record: s.record,
                r#type: s.type_,
                start_time: s.start_time.map(|t| t.0),
                end_time: s.end_time.map(|t| t.0),
                status: s.status,
                annotations: s.annotations.into_iter().collect(),
            }),
        }
    }
}

impl From<pb::Record> for RecordJson {
    fn from(r: pb::Record) -> Self {
        RecordJson {
            name: r.name,
            id: r.id,
            uid: r.uid,
            data: r.data.map(|d| AnyJson {
                type_: d.r#type,
                value: d.value,
            }),
            etag: r.etag,
            created_time: time(r.created_time),
            create_time: time(r.create_time),
            updated_time: time(r.updated_time),
            update_time: time(r.update_time),
        }
    }
}

impl From<RecordJson> for pb::Record {
    fn from(r: RecordJson) -> Self {
        pb::Record {
            name: r.name,
            id: r.id,
            uid: r.uid,
            data: r.data.map(|d| pb::Any {
                r#type: d.type_,
                value: d.value,
            }),
            etag: r.etag,
            created_time: r.created_time.map(|t| t.0),
            create_time: r.create_time.map(|t| t.0),
            updated_time: r.updated_time.map(|t| t.0),
            update_time: r.update_time.map(|t| t.0),
        }
    }
}

/// The object of a change as a REST Get answers it: the CloudEvent `data` of webhook sinks.
pub fn change_object_json(change: &results_actors::model::Change) -> serde_json::Value {
    use results_actors::model::ChangedObject;
    let json = match &change.object {
        ChangedObject::Result(r) => {
            serde_json::to_value(ResultJson::from(crate::convert::result_to_pb(r.clone())))
        }
        ChangedObject::Record(r) => {
            serde_json::to_value(RecordJson::from(crate::convert::record_to_pb(r.clone())))
        }
    };
    // These types always serialise.
    json.unwrap_or_default()
}

/// A `google.protobuf.Struct` as the JSON object it stands for.
pub fn struct_to_json(s: prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .into_iter()
            .map(|(k, v)| (k, value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(v: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::NumberValue(n)) => number_to_json(n),
        Some(Kind::StringValue(s)) => s.into(),
        Some(Kind::BoolValue(b)) => b.into(),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(l)) => l.values.into_iter().map(value_to_json).collect(),
    }
}

/// A double as protojson writes it: integral values without a fraction (`10000`, not
/// `10000.0`), so clients decoding into integers accept them; NaN and infinities, which
/// JSON cannot hold, as protojson's strings.
fn number_to_json(n: f64) -> serde_json::Value {
    // Every integral double below 2^63 in magnitude is an exact i64.
    const EXACT_I64: f64 = 9_223_372_036_854_775_808.0;
    if n.fract() == 0.0 && n.abs() < EXACT_I64 {
        return (n as i64).into();
    }
    match serde_json::Number::from_f64(n) {
        Some(number) => number.into(),
        None if n.is_nan() => "NaN".into(),
        None if n > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_json_uses_proto_names_base64_and_rfc3339() {
        let record = pb::Record {
            name: "a/results/b/records/c".into(),
            data: Some(pb::Any {
                r#type: "t".into(),
                value: br#"{"k":1}"#.to_vec(),
            }),
            create_time: Some(prost_types::Timestamp {
                seconds: 1,
                nanos: 5,
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(RecordJson::from(record)).unwrap();
        assert_eq!(json["data"]["value"], STANDARD.encode(br#"{"k":1}"#));
        assert_eq!(json["create_time"], "1970-01-01T00:00:01.000000005Z");
        assert!(
            json.get("etag").is_none(),
            "unset fields are omitted: {json}"
        );
    }

    #[test]
    fn summary_status_by_name_or_number_and_unknown_fields_ignored() {
        let r: ResultJson = serde_json::from_str(
            r#"{"name":"x","bogus":1,"summary":{"status":"FAILURE","start_time":"2024-01-02T03:04:05Z"}}"#,
        )
        .unwrap();
        let s = r.summary.unwrap();
        assert_eq!(s.status, Status::Failure as i32);
        assert_eq!(s.start_time.unwrap().0.seconds, 1_704_164_645);
        let r: ResultJson = serde_json::from_str(r#"{"summary":{"status":3}}"#).unwrap();
        assert_eq!(r.summary.unwrap().status, 3);
        assert!(serde_json::from_str::<ResultJson>(r#"{"summary":{"status":"NOPE"}}"#).is_err());
        let out = serde_json::to_value(SummaryJson {
            status: 1,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(out["status"], "SUCCESS");
    }

    #[test]
    fn struct_numbers_render_as_protojson_does() {
        use prost_types::value::Kind;
        let s = prost_types::Struct {
            fields: [
                ("total", 10000.0),
                ("avg", 12.5),
                ("neg", -3.0),
                ("zero", -0.0),
                ("nan", f64::NAN),
                ("inf", f64::INFINITY),
            ]
            .into_iter()
            .map(|(k, n)| {
                let v = prost_types::Value {
                    kind: Some(Kind::NumberValue(n)),
                };
                (k.to_owned(), v)
            })
            .collect(),
        };
        let text = serde_json::to_string(&struct_to_json(s)).unwrap();
        assert_eq!(
            text,
            r#"{"avg":12.5,"inf":"Infinity","nan":"NaN","neg":-3,"total":10000,"zero":0}"#
        );
    }
}
