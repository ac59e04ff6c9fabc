//! The codec of `UpdateLog` uploads, which can abort an upload on the wire.
//!
//! A client-streaming call that is merely dropped sends RST_STREAM(CANCEL), and a tonic
//! server reads that as the end of the stream (tonic's decoder turns a cancelled request
//! stream into `Ok(None)`), so it would store the log read so far as if it were whole. An
//! [`Upload::Abort`] instead fails the encoding of the request body: hyper then resets the
//! stream with INTERNAL_ERROR, which the server sees as an error, and keeps no half log.

use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

use crate::pb;

/// One item of an upload's request stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Upload {
    /// A message of the log.
    Chunk(pb::Log),
    /// Stop the upload as failed (why): nothing of it may be stored.
    Abort(String),
}

/// Encodes [`Upload`]s, decodes the `LogSummary`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadCodec;

/// The encoding half of [`UploadCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadEncoder;

/// The decoding half of [`UploadCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SummaryDecoder;

impl Codec for UploadCodec {
    type Encode = Upload;
    type Decode = pb::LogSummary;
    type Encoder = UploadEncoder;
    type Decoder = SummaryDecoder;

    fn encoder(&mut self) -> UploadEncoder {
        UploadEncoder
    }

    fn decoder(&mut self) -> SummaryDecoder {
        SummaryDecoder
    }
}

impl Encoder for UploadEncoder {
    type Item = Upload;
    type Error = Status;

    fn encode(&mut self, item: Upload, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        match item {
            Upload::Chunk(log) => log
                .encode(dst)
                .map_err(|e| Status::internal(format!("cannot encode a log message: {e}"))),
            Upload::Abort(why) => Err(Status::aborted(format!("upload aborted: {why}"))),
        }
    }
}

impl Decoder for SummaryDecoder {
    type Item = pb::LogSummary;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<pb::LogSummary>, Status> {
        pb::LogSummary::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("cannot decode the LogSummary: {e}")))
    }
}
