//! Live views as Server-Sent Events: an import's results page, a provisioning run's totals.
//! One event now, then one each time the view changes — the application layer waits on the
//! log for that, not on a timer — until the view is final or the server stops. Streams are
//! bounded (each holds a blocking thread while it waits).

use std::future::Future;
use std::marker::PhantomData;

use aide::generate::GenContext;
use aide::openapi::{Operation, Response as ApiResponse, StatusCode as ApiStatus};
use aide::OperationOutput;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Serialize;

use super::extract::AppState;
use super::problem::Problem;

/// How long one wait for a change lasts before a keep-alive comment.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A Server-Sent Events stream whose events each carry one `T` as JSON.
pub struct Events<T>(Response, PhantomData<T>);

impl<T> IntoResponse for Events<T> {
    fn into_response(self) -> Response {
        self.0
    }
}

impl<T: JsonSchema> OperationOutput for Events<T> {
    type Inner = T;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<ApiResponse> {
        let mut response = Json::<T>::operation_response(ctx, operation)?;
        let media = response.content.swap_remove("application/json")?;
        response.description =
            "Server-Sent Events: one event now and one at each change, each carrying the view \
             as JSON; the stream ends when the view is final"
                .into();
        response.content.insert("text/event-stream".into(), media);
        Some(response)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<ApiStatus>, ApiResponse)> {
        Self::operation_response(ctx, operation)
            .map(|r| vec![(Some(ApiStatus::Code(200)), r)])
            .unwrap_or_default()
    }
}

/// Takes one of the server's live-stream places, or says to poll instead.
pub fn place(state: &AppState, poll: &str) -> Result<tokio::sync::OwnedSemaphorePermit, Problem> {
    state.streams.clone().try_acquire_owned().map_err(|_| {
        Problem::new(
            ferry_engine::app::Kind::Unavailable,
            "too-many-streams",
            format!(
                "the server follows as many live views as it can now; poll GET {poll} instead, \
                 or retry"
            ),
        )
    })
}

/// The stream of `first`, then of each view `next(seen)` returns (it returns the view once it
/// differs from `seen`, or `seen` again when its wait ran out), as events named `name`, until
/// `done` holds for one or the server stops.
pub fn stream<V, Next, Fut>(
    state: &AppState,
    permit: tokio::sync::OwnedSemaphorePermit,
    name: &'static str,
    first: V,
    next: Next,
    done: fn(&V) -> bool,
) -> Events<V>
where
    V: Serialize + PartialEq + Clone + Send + Sync + 'static,
    Next: Fn(V) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<V>> + Send + 'static,
{
    let mut stopping = state.stopping.clone();
    let next = std::sync::Arc::new(next);
    let events = futures_util::stream::unfold(
        (Some(first), None::<V>, false),
        move |(pending, seen, finished)| {
            let next = next.clone();
            async move {
                if finished {
                    return None;
                }
                let view = match (pending, &seen) {
                    (Some(view), _) => view,
                    (None, Some(seen)) => next(seen.clone()).await?,
                    (None, None) => return None,
                };
                if seen.as_ref() == Some(&view) {
                    // Nothing new within the wait: a comment keeps proxies from closing.
                    return Some((Event::default().comment("waiting"), (None, seen, false)));
                }
                let event = Event::default()
                    .event(name)
                    .json_data(&view)
                    .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                let finished = done(&view);
                Some((event, (None, Some(view), finished)))
            }
        },
    );
    // The stream ends with the server: a shutdown never waits for the work to finish.
    let events = events
        .take_until(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .map(move |event| {
            let _held = &permit;
            Ok::<_, std::convert::Infallible>(event)
        });
    Events(
        Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response(),
        PhantomData,
    )
}
