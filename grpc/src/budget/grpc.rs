//! The gRPC side of the byte budget: a tower layer under tonic's router. It reads each
//! message's 5-byte length prefix as the body streams in, refuses a message over
//! `server.max_message_bytes` before it is buffered, and reserves the message's size from
//! the [`ByteBudget`] before tonic buffers it. Reservations are held until the answer's
//! body is dropped, so a request's decoded copy and its echoed answer are covered too.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use http_body::Frame;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::{Bytes, Service};
use tonic::Status;
use tower_layer::Layer;

use super::{ByteBudget, Reservation, CHARGE_PER_REQUEST_BYTE};
use crate::error::ApiError;

/// Length of a gRPC message prefix: a compression flag and a big-endian `u32` length.
const PREFIX: usize = 5;

/// Wraps gRPC services so that request messages are bounded and budgeted.
#[derive(Debug, Clone)]
pub struct BudgetLayer {
    budget: ByteBudget,
    max_message: usize,
}

impl BudgetLayer {
    /// Messages over `max_message` bytes are refused; the rest reserve from `budget`.
    pub fn new(budget: ByteBudget, max_message: usize) -> Self {
        BudgetLayer {
            budget,
            max_message,
        }
    }
}

impl<S> Layer<S> for BudgetLayer {
    type Service = Budgeted<S>;

    fn layer(&self, inner: S) -> Budgeted<S> {
        Budgeted {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service behind a [`BudgetLayer`].
#[derive(Debug, Clone)]
pub struct Budgeted<S> {
    inner: S,
    layer: BudgetLayer,
}

/// The reservations of one request, shared by its request and answer bodies.
type Held = Arc<Mutex<Vec<Reservation>>>;

impl<S, B> Service<Request<Body>> for Budgeted<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let held = Held::default();
        let streaming = STREAMING_UPLOADS.contains(&request.uri().path());
        let end = BodyEnd::default();
        request.extensions_mut().insert(end.clone());
        let request = request.map(|body| {
            Body::new(Metered {
                inner: body,
                layer: self.layer.clone(),
                held: held.clone(),
                framing: Framing::default(),
                waiting: None,
                streaming,
                end,
            })
        });
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| Body::new(Holding { inner: body, held })))
        })
    }
}

type Reserving = Pin<Box<dyn Future<Output = Result<Reservation, ApiError>> + Send>>;

/// Client-streaming methods whose messages are consumed one at a time (a log upload of any
/// size): each message's reservation is released when the next one arrives, instead of
/// when the answer is sent.
const STREAMING_UPLOADS: [&str; 1] = ["/tekton.results.v1alpha2.Logs/UpdateLog"];

/// A request body whose messages are checked and reserved before they are passed on.
struct Metered {
    inner: Body,
    layer: BudgetLayer,
    held: Held,
    framing: Framing,
    /// A frame held back until its messages' reservation is granted.
    waiting: Option<(Frame<Bytes>, Reserving)>,
    /// Whether earlier messages' reservations go when a new one is granted.
    streaming: bool,
    /// Set when the body ends as the client meant it to.
    end: BodyEnd,
}

/// Whether a request body reached its end (END_STREAM), as opposed to being cut off: tonic
/// ends a client stream the client cancelled (RST_STREAM CANCEL) as if it had finished, so
/// a service that must not act on half a stream (a log upload) asks this instead. Found in
/// the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct BodyEnd(Arc<std::sync::atomic::AtomicBool>);

impl BodyEnd {
    /// Whether the body ended as the client meant it to.
    pub fn reached(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    fn mark(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

impl http_body::Body for Metered {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        loop {
            if let Some((_, reserving)) = &mut this.waiting {
                let outcome = ready!(reserving.as_mut().poll(cx));
                let (frame, _) = this.waiting.take().expect("a frame is waiting");
                return match outcome {
                    Ok(reservation) => {
                        let mut held = this.held.lock().expect("not poisoned");
                        if this.streaming {
                            held.clear();
                        }
                        held.push(reservation);
                        drop(held);
                        Poll::Ready(Some(Ok(frame)))
                    }
                    Err(e) => Poll::Ready(Some(Err(e.into()))),
                };
            }
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                None => {
                    this.end.mark();
                    return Poll::Ready(None);
                }
                error => return Poll::Ready(error),
            };
            let Some(data) = frame.data_ref() else {
                return Poll::Ready(Some(Ok(frame)));
            };
            let sizes = this.framing.feed(data);
            if let Some(&too_big) = sizes.iter().find(|&&n| n > this.layer.max_message) {
                return Poll::Ready(Some(Err(Status::resource_exhausted(format!(
                    "the request message is {too_big} bytes; the limit is {} bytes \
                     (server.max_message_bytes)",
                    this.layer.max_message
                )))));
            }
            let wanted = sizes.iter().sum::<usize>() * CHARGE_PER_REQUEST_BYTE;
            if wanted == 0 {
                return Poll::Ready(Some(Ok(frame)));
            }
            let budget = this.layer.budget.clone();
            this.waiting = Some((frame, Box::pin(async move { budget.reserve(wanted).await })));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.waiting.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// An answer body that keeps its request's reservations until it is dropped.
struct Holding<B> {
    inner: B,
    #[allow(dead_code)] // held for its Drop
    held: Held,
}

impl<B> http_body::Body for Holding<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Where a body is in its sequence of length-prefixed messages.
#[derive(Debug, Default)]
struct Framing {
    prefix: [u8; PREFIX],
    prefix_len: usize,
    /// Bytes of the current message still to come.
    remaining: usize,
}

impl Framing {
    /// Consumes a chunk; returns the lengths of the messages whose prefix ended in it.
    fn feed(&mut self, mut data: &[u8]) -> Vec<usize> {
        let mut sizes = Vec::new();
        while !data.is_empty() {
            if self.remaining > 0 {
                let skip = self.remaining.min(data.len());
                self.remaining -= skip;
                data = &data[skip..];
                continue;
            }
            let take = (PREFIX - self.prefix_len).min(data.len());
            self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&data[..take]);
            self.prefix_len += take;
            data = &data[take..];
            if self.prefix_len == PREFIX {
                let len = u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]) as usize;
                sizes.push(len);
                self.remaining = len;
                self.prefix_len = 0;
            }
        }
        sizes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(len: u32) -> Vec<u8> {
        let mut m = vec![0];
        m.extend_from_slice(&len.to_be_bytes());
        m.resize(PREFIX + len as usize, 7);
        m
    }

    #[test]
    fn message_lengths_are_read_across_any_chunking() {
        let mut stream = message(3);
        stream.extend(message(0));
        stream.extend(message(70_000));
        stream.extend(message(1));
        for chunk in [1, 2, 4, 5, 6, 13, 4096, stream.len()] {
            let mut framing = Framing::default();
            let sizes: Vec<usize> = stream.chunks(chunk).flat_map(|c| framing.feed(c)).collect();
            assert_eq!(sizes, [3, 0, 70_000, 1], "chunks of {chunk}");
            assert_eq!((framing.remaining, framing.prefix_len), (0, 0));
        }
    }

    /// A body of scripted frames.
    struct Scripted(std::collections::VecDeque<Result<Frame<Bytes>, Status>>);

    impl http_body::Body for Scripted {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            Poll::Ready(self.get_mut().0.pop_front())
        }
    }

    /// Reads `frames` through a metered body; answers whether it saw its end.
    async fn end_reached(frames: Vec<Result<Frame<Bytes>, Status>>) -> bool {
        let end = BodyEnd::default();
        let mut body = Metered {
            inner: Body::new(Scripted(frames.into())),
            layer: BudgetLayer::new(
                ByteBudget::new(1 << 20, std::time::Duration::from_secs(1)),
                1 << 20,
            ),
            held: Held::default(),
            framing: Framing::default(),
            waiting: None,
            streaming: true,
            end: end.clone(),
        };
        while let Some(frame) =
            std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut body), cx)).await
        {
            if frame.is_err() {
                break;
            }
        }
        end.reached()
    }

    #[tokio::test]
    async fn only_a_body_that_reaches_its_end_says_so() {
        let data = || Ok(Frame::data(Bytes::from(message(4))));
        assert!(end_reached(vec![data(), data()]).await);
        // A client that cancels its stream: tonic would end the stream as if complete.
        assert!(!end_reached(vec![data(), Err(Status::cancelled("reset"))]).await);
        assert!(!end_reached(vec![Err(Status::unknown("connection lost"))]).await);
    }
}
