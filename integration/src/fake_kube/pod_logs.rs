//! `GET /api/v1/namespaces/{ns}/pods/{pod}/log`: container logs the tests set (text, or a
//! generated log of any size that is never held whole), streamed in chunks and honouring
//! `container`, `limitBytes` and `follow`, with the apiserver's errors for unknown pods
//! and containers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use actix_web::web::Bytes;
use actix_web::HttpResponse;

use super::http::{answer, Query};
use super::meta::Resource;
use super::status::{ApiError, ApiResult};

/// Bytes per chunk of a served log body.
const SERVE_CHUNK: usize = 32 << 10;

/// A log request received, as the fake apiserver saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodLogRequest {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The raw query string, e.g. `container=step-build&limitBytes=1025`.
    pub query: String,
    /// The HTTP status of the answer.
    pub status: u16,
}

/// A container's log.
#[derive(Debug, Clone)]
enum Source {
    Text(Bytes),
    Generated(GeneratedLog),
    /// The text, then the connection breaks.
    Broken(Bytes),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::Text(text) | Source::Broken(text) => text.len() as u64,
            Source::Generated(log) => log.size,
        }
    }

    /// The first `len` bytes, as a lazy sequence of chunks.
    fn chunks(self, len: u64) -> Box<dyn Iterator<Item = Bytes> + Send> {
        match self {
            Source::Text(text) | Source::Broken(text) => {
                let text = text.slice(..len as usize);
                let count = text.len().div_ceil(SERVE_CHUNK);
                Box::new((0..count).map(move |i| {
                    let end = ((i + 1) * SERVE_CHUNK).min(text.len());
                    text.slice(i * SERVE_CHUNK..end)
                }))
            }
            Source::Generated(_) => Box::new(GeneratedLog::new(len).chunks(SERVE_CHUNK)),
        }
    }
}

/// A deterministic log of `size` bytes, made of numbered lines of [`GeneratedLog::LINE`]
/// bytes (the last one cut at `size`), produced a chunk at a time: tests compare what was
/// uploaded with it without either side holding it whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedLog {
    /// Its length in bytes.
    pub size: u64,
}

impl GeneratedLog {
    /// Bytes per line, newline included.
    pub const LINE: u64 = 56;

    /// A log of `size` bytes.
    pub fn new(size: u64) -> GeneratedLog {
        GeneratedLog { size }
    }

    /// Line `n` (from 0), newline included.
    pub fn line(n: u64) -> String {
        format!("{n:011} the quick brown fox jumps over the lazy dog\n")
    }

    /// Fills `buffer` with the bytes from `offset` on (within the log: the caller keeps
    /// `offset + buffer.len() <= size`).
    pub fn fill(offset: u64, buffer: &mut [u8]) {
        let mut at = 0;
        let mut position = offset;
        while at < buffer.len() {
            let line = Self::line(position / Self::LINE);
            let start = (position % Self::LINE) as usize;
            let take = (line.len() - start).min(buffer.len() - at);
            buffer[at..at + take].copy_from_slice(&line.as_bytes()[start..start + take]);
            at += take;
            position += take as u64;
        }
    }

    /// Its bytes, in chunks of `chunk` bytes (the last may be shorter).
    pub fn chunks(self, chunk: usize) -> impl Iterator<Item = Bytes> + Send {
        let size = self.size;
        let chunk = chunk.max(1) as u64;
        (0..size.div_ceil(chunk)).map(move |i| {
            let offset = i * chunk;
            let len = chunk.min(size - offset) as usize;
            let mut buffer = vec![0u8; len];
            Self::fill(offset, &mut buffer);
            Bytes::from(buffer)
        })
    }
}

/// The logs of the pods the tests set up, by namespace and pod, then container.
#[derive(Debug, Default)]
pub(crate) struct PodLogs {
    pods: Mutex<HashMap<(String, String), BTreeMap<String, Source>>>,
    requests: Mutex<Vec<PodLogRequest>>,
    fail: Mutex<Option<u16>>,
}

impl PodLogs {
    fn pods(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), BTreeMap<String, Source>>> {
        self.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_text(&self, namespace: &str, pod: &str, container: &str, text: Bytes) {
        self.set(namespace, pod, container, Source::Text(text));
    }

    pub fn set_broken(&self, namespace: &str, pod: &str, container: &str, text: Bytes) {
        self.set(namespace, pod, container, Source::Broken(text));
    }

    pub fn set_generated(&self, namespace: &str, pod: &str, container: &str, size: u64) {
        self.set(
            namespace,
            pod,
            container,
            Source::Generated(GeneratedLog { size }),
        );
    }

    fn set(&self, namespace: &str, pod: &str, container: &str, source: Source) {
        self.pods()
            .entry((namespace.to_owned(), pod.to_owned()))
            .or_default()
            .insert(container.to_owned(), source);
    }

    pub fn remove_pod(&self, namespace: &str, pod: &str) {
        self.pods().remove(&(namespace.to_owned(), pod.to_owned()));
    }

    pub fn fail(&self, status: Option<u16>) {
        *self.fail.lock().unwrap_or_else(PoisonError::into_inner) = status;
    }

    pub fn requests(&self) -> Vec<PodLogRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Answers one log request.
    pub fn serve(
        &self,
        namespace: &str,
        pod: &str,
        query: &Query,
        raw_query: &str,
    ) -> HttpResponse {
        let response = match self.find(namespace, pod, query) {
            Ok((source, len)) => {
                let broken = matches!(source, Source::Broken(_));
                let chunks = source.chunks(len).map(Ok::<_, std::io::Error>);
                // A failed body item makes the server drop the connection mid-body.
                let end = broken.then(|| Err(std::io::Error::other("the log connection broke")));
                HttpResponse::Ok()
                    .content_type("text/plain")
                    .streaming(futures::stream::iter(chunks.chain(end)))
            }
            Err(error) => answer(Err(error)),
        };
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(PodLogRequest {
                namespace: namespace.to_owned(),
                pod: pod.to_owned(),
                query: raw_query.to_owned(),
                status: response.status().as_u16(),
            });
        response
    }

    /// The log asked for and how many of its bytes to serve.
    fn find(&self, namespace: &str, pod: &str, query: &Query) -> ApiResult<(Source, u64)> {
        if let Some(code) = *self.fail.lock().unwrap_or_else(PoisonError::into_inner) {
            let mut error = ApiError::failure(code);
            error.message = format!("the fake apiserver fails pod logs with {code}");
            return Err(error);
        }
        for unmodelled in ["previous", "timestamps"] {
            if query.flag(unmodelled) {
                return Err(ApiError::bad_request(format!(
                    "{unmodelled}=true is not modelled by the fake apiserver"
                )));
            }
        }
        for unmodelled in ["tailLines", "sinceSeconds", "sinceTime"] {
            if query.get(unmodelled).is_some() {
                return Err(ApiError::bad_request(format!(
                    "{unmodelled} is not modelled by the fake apiserver"
                )));
            }
        }
        let limit = match query.get("limitBytes") {
            None => None,
            Some(text) => match text.parse::<i64>() {
                Ok(limit) if limit > 0 => Some(limit as u64),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "PodLogOptions \"{pod}\" is invalid: limitBytes: Invalid value: {text}: \
                         must be greater than 0"
                    )))
                }
            },
        };
        let pods = self.pods();
        let Some(containers) = pods.get(&(namespace.to_owned(), pod.to_owned())) else {
            return Err(ApiError::not_found(&Resource::new("v1", "pods"), pod));
        };
        let source = match query.get("container").filter(|c| !c.is_empty()) {
            Some(container) => containers.get(container).ok_or_else(|| {
                ApiError::bad_request(format!("container {container} is not valid for pod {pod}"))
            })?,
            None if containers.len() == 1 => containers.values().next().expect("one container"),
            None => {
                let names: Vec<&str> = containers.keys().map(String::as_str).collect();
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {pod}, choose one of: [{}]",
                    names.join(" ")
                )));
            }
        };
        // `follow`: the containers of the fake have all terminated, so following ends
        // where the log does, as it does for a terminated container.
        let len = limit.map_or(source.len(), |limit| limit.min(source.len()));
        Ok((source.clone(), len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_logs_are_numbered_lines_whatever_the_chunking() {
        assert_eq!(GeneratedLog::line(7).len() as u64, GeneratedLog::LINE);
        let whole: Vec<u8> = GeneratedLog::new(1000).chunks(1000).flatten().collect();
        assert_eq!(whole.len(), 1000);
        assert!(whole.starts_with(GeneratedLog::line(0).as_bytes()));
        assert_eq!(
            &whole[56..112],
            GeneratedLog::line(1).as_bytes(),
            "the second line"
        );
        for chunk in [1, 7, 55, 56, 57, 999, 4096] {
            let pieces: Vec<Bytes> = GeneratedLog::new(1000).chunks(chunk).collect();
            assert!(pieces.iter().all(|p| p.len() <= chunk));
            let joined: Vec<u8> = pieces.into_iter().flatten().collect();
            assert_eq!(joined, whole, "chunks of {chunk}");
        }
        assert_eq!(GeneratedLog::new(0).chunks(10).count(), 0);
    }

    #[test]
    fn text_is_served_in_chunks_up_to_the_limit() {
        let text = Bytes::from(vec![b'a'; SERVE_CHUNK * 2 + 5]);
        let chunks: Vec<Bytes> = Source::Text(text.clone())
            .chunks(text.len() as u64)
            .collect();
        assert_eq!(chunks.len(), 3);
        let limited: Vec<u8> = Source::Text(text).chunks(10).flatten().collect();
        assert_eq!(limited, vec![b'a'; 10]);
    }
}
