//! The HTTP side of `livejit serve --http ADDR` (see `serve.rs`): every request calls
//! `fn handle(method: str, path: str, body: str) -> str` through its slot on the session's pool
//! of request task threads (the back end's `Service`).
//!
//! hyper 1 serves HTTP/1.1 (keep-alive, any number of connections) on a small tokio runtime
//! whose threads only parse, wait and write: JIT code never runs on them. A request's body is
//! read whole (at most [`MAX_BODY`]), handed to the pool with a callback, and the reply
//! awaited; a runtime error answers 500 and is rendered on stderr.

use crate::commands::Repl;
use crate::out::{self, Stream};
use crate::render;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use livejit_backend::{ErrorKind, Refused, Reply, Request, Service};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest request body passed to `handle`; a larger one answers 413.
pub const MAX_BODY: usize = 1 << 20;

/// How long a connection may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long past `--request-timeout` a request is awaited before it is answered anyway (a
/// handler blocked in a builtin that does not poll cannot be interrupted at once).
const TIMEOUT_GRACE: Duration = Duration::from_secs(2);

/// A running HTTP listener and its request pool.
pub struct Http {
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<GracefulShutdown>,
    service: Arc<Service>,
    /// The address actually bound (its port is real even for `:0`).
    pub addr: SocketAddr,
}

/// Checks that the session defines `handle` with the right signature, pins that signature,
/// starts `threads` request task threads and listens on `addr`. Prints
/// `listening on http://ADDR` on stderr once connections are accepted.
pub fn start(
    repl: &mut Repl,
    addr: &str,
    threads: usize,
    request_timeout: Duration,
) -> Result<Http, String> {
    listen(repl.serve(threads, request_timeout)?, addr, request_timeout)
}

/// Serves HTTP on `addr` with a request pool already started (`Session::serve`); `start`
/// without the REPL around it (the serve benchmark drives a bare session with it).
pub fn listen(service: Service, addr: &str, request_timeout: Duration) -> Result<Http, String> {
    let service = Arc::new(service);
    // Bound here, synchronously, so that a bad or busy address is an error before serving.
    // (Dropping `service` on an error stops the pool and unpins `handle`.)
    let listener =
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let io_threads = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .min(4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads)
        .thread_name("livejit-http")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
    let listener = {
        let _in_runtime = runtime.enter();
        tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = runtime.spawn(accept(listener, service.clone(), request_timeout, stopped));
    out::emit(Stream::Err, format!("listening on http://{local}\n"));
    Ok(Http {
        runtime,
        stop,
        server,
        service,
        addr: local,
    })
}

impl Http {
    /// Stops accepting, lets in-flight requests finish for at most `drain`, stops the pool.
    pub fn shutdown(self, drain: Duration) {
        let deadline = Instant::now() + drain;
        let _ = self.stop.send(true);
        let server = self.server;
        self.runtime.block_on(async move {
            // The accept loop ends at once and hands over its connections; idle keep-alive
            // connections close now, busy ones after their response.
            if let Ok(graceful) = server.await {
                let _ = tokio::time::timeout_at(deadline.into(), graceful.shutdown()).await;
            }
        });
        let left = self
            .service
            .shutdown(deadline.saturating_duration_since(Instant::now()));
        if left > 0 {
            out::emit(
                Stream::Err,
                format!("stopped {left} request(s) still running after {drain:?}\n"),
            );
        }
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

/// Accepts connections until `stopped` changes; returns what drains them.
async fn accept(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    timeout: Duration,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let service = service.clone();
                    let conn = http.serve_connection(
                        TokioIo::new(stream),
                        hyper::service::service_fn(move |req| {
                            respond(req, service.clone(), timeout)
                        }),
                    );
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            _ = stopped.changed() => break,
        }
    }
    graceful
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Reads a request body of at most [`MAX_BODY`] bytes, or gives the answer to send instead:
/// 413 for a larger body, 400 for one that cannot be read. A larger body is still read and
/// discarded up to [`DISCARD_LIMIT`] bytes before the 413 is sent (a lingering close, as web
/// servers do), so that a client still sending it gets the answer rather than a reset
/// connection; a body declared larger than that is refused without reading it.
async fn read_body(mut body: Incoming) -> Result<Vec<u8>, Response<Full<Bytes>>> {
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("error: the body is larger than {MAX_BODY} bytes"),
        )
    };
    if body.size_hint().lower() > DISCARD_LIMIT {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            text(
                StatusCode::BAD_REQUEST,
                format!("error: cannot read the body: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
            if seen > DISCARD_LIMIT {
                return Err(too_large());
            }
            if seen <= MAX_BODY as u64 {
                bytes.extend_from_slice(&data);
            }
        }
    }
    if seen > MAX_BODY as u64 {
        return Err(too_large());
    }
    Ok(bytes)
}

/// How much of a too-large body is read and discarded before answering 413.
const DISCARD_LIMIT: u64 = 16 << 20;

/// One request: read the body, call `handle` on the pool, answer.
async fn respond(
    req: hyper::Request<Incoming>,
    service: Arc<Service>,
    timeout: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_string();
    // The request target as sent: hyper keeps it verbatim (query included, nothing decoded).
    let path = req.uri().to_string();
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(answer) => return Ok(answer),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let request = Request {
        method: method.clone().into_bytes(),
        path: path.clone().into_bytes(),
        body,
    };
    match service.submit(request, Box::new(move |r| drop(tx.send(r)))) {
        Ok(()) => {}
        Err(Refused::Stopping) => {
            return Ok(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "error: the service is shutting down",
            ))
        }
        Err(Refused::Busy) => {
            return Ok(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "error: too many requests are waiting",
            ))
        }
    }
    let ms = timeout.as_millis();
    let reply = match tokio::time::timeout(timeout + TIMEOUT_GRACE, rx).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => {
            return Ok(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "error: the service stopped before the request ran",
            ))
        }
        Err(_) => {
            out::emit(
                Stream::Err,
                format!("request {method} {path}: timed out after {ms} ms and did not stop\n"),
            );
            return Ok(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("error: request timed out after {ms} ms"),
            ));
        }
    };
    Ok(match reply {
        Reply::Ok(bytes) => text(StatusCode::OK, bytes),
        Reply::Failed {
            error,
            timed_out: true,
        } => {
            out::emit(
                Stream::Err,
                format!(
                    "request {method} {path}: timed out after {ms} ms, interrupted {}\n",
                    render::interrupted_at(&error)
                ),
            );
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("error: request timed out after {ms} ms"),
            )
        }
        Reply::Failed { error, .. } if error.kind == ErrorKind::Interrupted => {
            out::emit(
                Stream::Err,
                format!(
                    "request {method} {path}: interrupted {}\n",
                    render::interrupted_at(&error)
                ),
            );
            text(StatusCode::INTERNAL_SERVER_ERROR, "error: interrupted")
        }
        Reply::Failed { error, .. } => {
            out::emit(
                Stream::Err,
                format!(
                    "request {method} {path} failed\n{}",
                    render::runtime_error(&error)
                ),
            );
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("error: {}", error.message),
            )
        }
        Reply::Crashed(m) => {
            out::emit(
                Stream::Err,
                format!("request {method} {path}: internal error in the runtime: {m}\n"),
            );
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "error: internal error in the runtime",
            )
        }
        Reply::Stopped => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "error: the service stopped before the request ran",
        ),
    })
}
