//! The byte budget on the REST side. A request body is read within
//! `server.max_message_bytes`, its declared length reserved before a byte is read; the
//! reservation is held until the answer has been handed to the socket, so clients that
//! read slowly hold budget too. Answers of requests without a body (Gets, Lists) reserve
//! their own size before they are sent.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{self, BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut, Data};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, ResponseError as _};
use futures::future::LocalBoxFuture;
use futures::StreamExt as _;

use super::handlers::RestError;
use crate::budget::{ByteBudget, Reservation, CHARGE_PER_REQUEST_BYTE};
use crate::error::ApiError;

/// What bounds a request body.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// Largest body accepted.
    pub max_bytes: usize,
    /// The budget shared with gRPC.
    pub budget: ByteBudget,
}

/// A request body; its share of the budget is held by the request until it is answered.
#[derive(Debug)]
pub struct Body(pub Bytes);

/// Reservations held by a request until its answer is sent.
struct Held(Vec<Reservation>);

/// Answers leave in pieces of this size, so the socket's pace decides when the last piece
/// (and with it the reservation) is let go.
const ANSWER_PIECE: usize = 64 * 1024;

fn too_large(bytes: usize, max: usize) -> RestError {
    ApiError::ResourceExhausted(format!(
        "the request body is {bytes} bytes or more; the limit is {max} bytes \
         (server.max_message_bytes)"
    ))
    .into()
}

impl FromRequest for Body {
    type Error = RestError;
    type Future = LocalBoxFuture<'static, Result<Body, RestError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = req
            .app_data::<Data<BodyLimits>>()
            .expect("rest::configure registers BodyLimits")
            .clone();
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let mut payload = payload.take();
        let req = req.clone();
        Box::pin(async move {
            let max = limits.max_bytes;
            if let Some(length) = declared.filter(|&n| n > max) {
                return Err(too_large(length, max));
            }
            // Without a declared length (chunked), the most it may grow to.
            let charge = declared.unwrap_or(max) * CHARGE_PER_REQUEST_BYTE;
            let reservation = limits.budget.reserve(charge).await?;
            let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    RestError::from(ApiError::InvalidArgument(format!(
                        "cannot read the request body: {e}"
                    )))
                })?;
                if body.len() + chunk.len() > max {
                    return Err(too_large(body.len() + chunk.len(), max));
                }
                body.extend_from_slice(&chunk);
            }
            req.extensions_mut().insert(Held(vec![reservation]));
            Ok(Body(body.freeze()))
        })
    }
}

/// Middleware: answers keep their request's reservations until sent; answers to requests
/// that reserved nothing reserve their own size first (RESOURCE_EXHAUSTED if it does not
/// fit in time). Streamed answers (logs) pass as they are: they hold one chunk at a time.
pub async fn hold_answers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limits = req.app_data::<Data<BodyLimits>>().cloned();
    let response = next.call(req).await?;
    let Some(limits) = limits else {
        return Ok(response.map_into_boxed_body());
    };
    let held = response.request().extensions_mut().remove::<Held>();
    let (request, response) = response.into_parts();
    // A streamed answer (a log) is produced a chunk at a time as the client reads it:
    // its memory is bounded by the chunk, and it must not be gathered here.
    if matches!(response.body().size(), BodySize::Stream) {
        drop(held);
        return Ok(ServiceResponse::new(
            request,
            response.map_into_boxed_body(),
        ));
    }
    let (head, answer) = response.into_parts();
    // Answers are built in memory, so reading them back cannot fail; say so if it did.
    let Ok(bytes) = body::to_bytes(answer).await else {
        return Err(actix_web::error::ErrorInternalServerError(
            "an answer body could not be read",
        ));
    };
    let held = match held {
        Some(Held(held)) => held,
        None => match limits.budget.reserve(bytes.len()).await {
            Ok(reservation) => vec![reservation],
            Err(e) => {
                let refusal = RestError::from(e).error_response();
                return Ok(ServiceResponse::new(request, refusal));
            }
        },
    };
    let answer = HeldAnswer { bytes, _held: held };
    Ok(ServiceResponse::new(
        request,
        head.set_body(answer).map_into_boxed_body(),
    ))
}

/// An answer that holds reservations until its last piece is taken.
struct HeldAnswer {
    bytes: Bytes,
    _held: Vec<Reservation>,
}

impl MessageBody for HeldAnswer {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.bytes.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        let bytes = &mut self.get_mut().bytes;
        if bytes.is_empty() {
            return Poll::Ready(None);
        }
        let piece = bytes.split_to(bytes.len().min(ANSWER_PIECE));
        Poll::Ready(Some(Ok(piece)))
    }
}
