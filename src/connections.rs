//! The listener's accept loop and each connection's life, with the limits
//! that keep strangers from holding descriptors for nothing:
//!
//! - a connection with no request in progress that sends nothing for
//!   [`Limits::idle_timeout`] is closed (one that never sends a byte, an idle
//!   keep-alive or HTTP/2 connection, half a request line);
//! - an HTTP/1.1 request's headers must arrive whole within
//!   [`Limits::header_read_timeout`] (a header every ten seconds does not
//!   keep a connection);
//! - a request body that stalls is cut by the router's body timeout
//!   (`crate::app`), so "half a body" ends too;
//! - when descriptors run short, accepting pauses briefly and goes on.
//!
//! A request in progress (a long-poll, a gRPC stream, a Socket.IO
//! WebSocket once upgraded) is never cut for being quiet: its own protocol's
//! heartbeat watches it. Stopping is graceful: no new connection, each open
//! one finishes what it serves, as `axum::serve` would.

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The address a request's connection comes from, in its extensions (for
/// limits per address; behind a proxy, the proxy's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddress(pub std::net::SocketAddr);

/// How long connections may stay quiet.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection with no request in progress is closed after this long
    /// without a byte from its client.
    pub idle_timeout: Duration,
    /// An HTTP/1.1 request's headers must arrive within this long.
    pub header_read_timeout: Duration,
}

/// Pause after an accept that failed for want of descriptors (or memory).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown`, then waits for the open
/// connections to finish. Dropping the future ends every connection at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let tracker = tokio_util::task::TaskTracker::new();
    // Cancelled when this future ends or is dropped (an aborted stop).
    let hard_stop = CancellationToken::new();
    let _hard_stop = hard_stop.clone().drop_guard();
    let mut last_complaint: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (router, shutdown, hard_stop) =
                    (router.clone(), shutdown.clone(), hard_stop.clone());
                tracker.spawn(connection(
                    stream,
                    PeerAddress(peer),
                    router,
                    limits,
                    shutdown,
                    hard_stop,
                ));
            }
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                // Out of descriptors (EMFILE, ENFILE) or memory: the open
                // connections go on, and some will close; accept again soon.
                let now = tokio::time::Instant::now();
                if last_complaint.is_none_or(|at| now - at >= Duration::from_secs(10)) {
                    tracing::error!(%error, "accept failed; retrying");
                    last_complaint = Some(now);
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    tracker.close();
    tracker.wait().await;
}

fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// What a connection's watchdog reads: requests in progress, and when the
/// client last sent a byte or a request last finished (milliseconds since
/// the connection opened).
struct Activity {
    opened: tokio::time::Instant,
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let now = self.opened.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Serves one connection until it ends, goes idle, or the server stops.
async fn connection(
    stream: TcpStream,
    peer: PeerAddress,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
) {
    // Events are small writes that must leave at once: without TCP_NODELAY,
    // Nagle's algorithm holds one back until the client acknowledges the
    // previous one, which a delayed ACK puts off by up to 40 ms.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "TCP_NODELAY not set on a connection");
    }
    let activity = Arc::new(Activity {
        opened: tokio::time::Instant::now(),
        in_flight: AtomicUsize::new(0),
        last_ms: AtomicU64::new(0),
    });
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(peer);
            let guard = InFlight::enter(Arc::clone(&activity));
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| GuardedBody {
                    body,
                    _guard: guard,
                }))
            }
        })
    };
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // CONNECT protocol, for WebSockets over HTTP/2.
    builder.http2().enable_connect_protocol();
    let mut served = pin!(builder.serve_connection_with_upgrades(io, service));
    let idle = async {
        let check_every = limits.idle_timeout / 4;
        loop {
            tokio::time::sleep(check_every).await;
            if activity.in_flight.load(Ordering::Relaxed) == 0
                && activity.quiet_for() >= limits.idle_timeout
            {
                return;
            }
        }
    };
    let mut idle = pin!(idle);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::trace!(%error, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                served.as_mut().graceful_shutdown();
            }
            () = &mut idle => {
                tracing::debug!("idle connection closed");
                return;
            }
            () = hard_stop.cancelled() => return,
        }
    }
}

/// A request in progress on a connection, from its arrival until its
/// response body is done with.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in progress.
struct GuardedBody {
    body: axum::body::Body,
    _guard: InFlight,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, noting when its client last sent something.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
