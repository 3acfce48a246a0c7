//! The first reader of every connection. Proxy-auth requests (nginx `auth_request`, forward
//! auth), which come on every request of every protected app, are answered here from the bytes
//! `httparse` parsed, the answer written into one buffer and sent with one write. At the first
//! request that is anything else the connection goes to hyper, with every byte read so far,
//! and from there to the router as before.
//!
//! Only the plain shape is taken: GET or HEAD, HTTP/1.1 (`Connection` absent, `close` or
//! `keep-alive`) or HTTP/1.0 that closes (nginx's default towards an upstream), a target of
//! ordinary URL characters on a proxy-auth address, no body. Anything unusual (a body, `Expect`,
//! `Upgrade`, other characters, HTTP/1.0 keep-alive, a head larger than [`MAX_HEAD`] or with
//! more than [`MAX_HEADERS`] headers, a parse error) goes to hyper as it came, and hyper and the
//! router answer it as they always did. The fuzz target `proxy_auth_conn` serves the same bytes
//! both ways and compares the answers byte for byte.
//!
//! It must never answer a request differently from the router: the verdict is the same
//! [`proxy_auth::check`], its headers are read through [`RequestHeaders`] which reads raw and
//! parsed headers alike, and tests/it/proxy_auth_short_way.rs compares both ways address by
//! address. It never reads past a request before answering it, and never logs above trace.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;

use super::headers::{single, RequestHeaders};
use super::proxy_auth::{self, Verdict};
use super::serve::{is_proxy_auth_path, Connection};
use crate::core::Core;
use crate::domain::now_coarse;

/// The largest request head answered here; a larger one goes to hyper (which allows more).
pub const MAX_HEAD: usize = 32 * 1024;
/// The most headers a request answered here may have; more go to hyper (which allows 100).
pub const MAX_HEADERS: usize = 64;

/// What to do with the bytes read so far.
enum Step {
    /// The head is not complete yet: read more.
    ReadMore,
    /// Not a plain proxy-auth request: hyper takes the connection.
    HandOver,
    /// Answered into the output buffer; `consumed` bytes of input were the request.
    Answered { consumed: usize, keep_alive: bool },
}

/// A connection's byte stream: a `TcpStream` when serving, an in-memory pipe in the fuzz target.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// Serves one connection until it closes or the server shuts down (`shutdown` turns true or
/// its sender is gone): between requests the connection is closed; a request under way is
/// answered first.
pub async fn serve_connection<S: Stream>(
    mut tcp: S,
    peer: SocketAddr,
    core: Arc<Core>,
    router: Router,
    shutdown: watch::Receiver<bool>,
) {
    let mut input: Vec<u8> = Vec::with_capacity(4096);
    let mut output: Vec<u8> = Vec::with_capacity(512);
    // Set up once per connection: a wait made anew for every read costs a lock and a waiter
    // list entry each time, a measurable share of a cache hit.
    let mut shutting_down = std::pin::pin!(shut_down(shutdown.clone()));
    loop {
        output.clear();
        let step = answer_buffered(&input, peer, &core, &mut output).await;
        match step {
            Step::ReadMore => {
                if input.len() >= MAX_HEAD {
                    break;
                }
                if input.capacity() == input.len() {
                    input.reserve(input.len());
                }
                let read = if input.is_empty() {
                    // The read first: when the next request is already there, the shutdown
                    // wait is not even looked at.
                    tokio::select! {
                        biased;
                        read = tcp.read_buf(&mut input) => read,
                        () = &mut shutting_down => return,
                    }
                } else {
                    // A request under way is read to its end, shutting down or not.
                    tcp.read_buf(&mut input).await
                };
                match read {
                    // The client closed in the middle of a head: hyper decides what that gets.
                    Ok(0) if !input.is_empty() => break,
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
            Step::HandOver => break,
            Step::Answered {
                consumed,
                keep_alive,
            } => {
                if tcp.write_all(&output).await.is_err() {
                    return;
                }
                if !keep_alive || *shutdown.borrow() {
                    let _ = tcp.shutdown().await;
                    return;
                }
                input.drain(..consumed);
            }
        }
    }
    hand_over(tcp, input, peer, core, router, shutdown).await;
}

/// Resolves when the server starts shutting down (or is gone).
async fn shut_down(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|down| *down).await;
}

/// Parses the head in `input` and, when it is a plain proxy-auth request, writes its answer.
async fn answer_buffered(
    input: &[u8],
    peer: SocketAddr,
    core: &Core,
    output: &mut Vec<u8>,
) -> Step {
    // Left uninitialised: httparse writes the headers it found and hands back only those
    // (writing 64 empty headers first would be 2 KiB of stores per request).
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let plain = match read_head(input, &mut headers) {
        Head::Incomplete => return Step::ReadMore,
        Head::NotPlain => return Step::HandOver,
        Head::Plain(plain) => plain,
    };
    let verdict = proxy_auth::check(core, peer, plain.path, plain.query, plain.headers).await;
    write_answer(output, &verdict, &plain);
    Step::Answered {
        consumed: plain.consumed,
        keep_alive: plain.keep_alive,
    }
}

/// What the start of the input holds.
enum Head<'h, 'b> {
    /// Not a whole head yet.
    Incomplete,
    /// A head hyper takes: not a plain proxy-auth request, or not one httparse reads.
    NotPlain,
    Plain(PlainRequest<'h, 'b>),
}

/// A plain proxy-auth request: GET or HEAD of a proxy-auth path, no body.
struct PlainRequest<'h, 'b> {
    /// The head's length in bytes.
    consumed: usize,
    path: &'b str,
    query: Option<&'b str>,
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    version: u8,
    /// HEAD: the answer says no length, as hyper's does (it would be the length of a GET's).
    head: bool,
    /// Whether the connection stays open after the answer.
    keep_alive: bool,
    headers: &'h [httparse::Header<'b>],
}

/// Reads the first head in `input`, the headers into `headers`.
fn read_head<'h, 'b>(
    input: &'b [u8],
    headers: &'h mut [MaybeUninit<httparse::Header<'b>>],
) -> Head<'h, 'b> {
    if input.is_empty() {
        return Head::Incomplete;
    }
    let mut request = httparse::Request::new(&mut []);
    let consumed = match request.parse_with_uninit_headers(input, headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Head::Incomplete,
        Err(_) => return Head::NotPlain,
    };
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Head::NotPlain;
    };
    // A HEAD answer is the same head: no answer here has a body.
    if !(method == "GET" || method == "HEAD") {
        return Head::NotPlain;
    }
    let Some((path, query)) = plain_target(target).filter(|(path, _)| is_proxy_auth_path(path))
    else {
        return Head::NotPlain;
    };
    let headers: &'h [httparse::Header<'b>] = request.headers;
    let Some(keep_alive) = keeps_alive(headers, version) else {
        return Head::NotPlain;
    };
    if !has_no_body(headers) {
        return Head::NotPlain;
    }
    Head::Plain(PlainRequest {
        consumed,
        path,
        query,
        version,
        head: method == "HEAD",
        keep_alive,
        headers,
    })
}

/// Whether the loop answers the first request in `input` itself, rather than handing the
/// connection to hyper (tests show that a proxy's real requests take the short way).
pub fn answers_itself(input: &[u8]) -> bool {
    let mut headers = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    matches!(read_head(input, &mut headers), Head::Plain(_))
}

/// The path and query of a target that is an origin-form path (and query) of characters every
/// URL parser takes alike: unreserved, sub-delims, `:`, `@`, `/`, `?` and `%`; `None` for
/// anything else, which goes to hyper. One pass: the check finds the `?` too.
fn plain_target(target: &str) -> Option<(&str, Option<&str>)> {
    if !target.starts_with('/') {
        return None;
    }
    let mut question = None;
    for (i, b) in target.bytes().enumerate() {
        match b {
            b'?' if question.is_none() => question = Some(i),
            b'!' | b'$'..=b';' | b'=' | b'?'..=b'Z' | b'_' | b'a'..=b'z' | b'~' => {}
            _ => return None,
        }
    }
    Some(match question {
        Some(i) => (&target[..i], Some(&target[i + 1..])),
        None => (target, None),
    })
}

/// Whether hyper keeps the connection open after its answer, for each (HTTP/1.x minor version,
/// `Connection` value) taken here: HTTP/1.1 stays open unless `close`; HTTP/1.0 closes.
///
/// HTTP/1.0 with `keep-alive` is hyper's: hyper remembers a connection's last version and frames
/// a later error answer (a malformed next request) as HTTP/1.0, which a hyper that takes over
/// halfway cannot know (found by the proxy_auth_conn fuzz target). Proxies do not send it:
/// nginx's HTTP/1.0 closes, and keep-alive upstreams speak HTTP/1.1.
const KEEP_ALIVE: [(u8, Option<&str>, bool); 5] = [
    (1, None, true),
    (1, Some("keep-alive"), true),
    (1, Some("close"), false),
    (0, None, false),
    (0, Some("close"), false),
];

/// The row of [`KEEP_ALIVE`] for this request; `None` for anything else (other tokens, more
/// than one `Connection` header, another version): hyper decides those.
fn keeps_alive(headers: &[httparse::Header<'_>], version: u8) -> Option<bool> {
    let value = single(headers, "connection").ok()?.map(str::trim);
    KEEP_ALIVE.iter().find_map(|(v, token, keep_alive)| {
        let same = match (token, value) {
            (None, None) => true,
            (Some(t), Some(v)) => t.eq_ignore_ascii_case(v),
            _ => false,
        };
        (*v == version && same).then_some(*keep_alive)
    })
}

/// The `connection` header hyper adds to such an answer: `close` when an HTTP/1.1 connection
/// ends after it (an HTTP/1.0 one closes without saying so).
fn connection_header(version: u8, keep_alive: bool) -> Option<&'static str> {
    (version == 1 && !keep_alive).then_some("close")
}

/// No body and nothing that asks for more than one answer: no `transfer-encoding`, `expect`
/// or `upgrade`, and `content-length` absent or a single `0`.
fn has_no_body(headers: &[httparse::Header<'_>]) -> bool {
    let absent = |name| headers.values(name).next().is_none();
    if !(absent("transfer-encoding") && absent("expect") && absent("upgrade")) {
        return false;
    }
    let mut lengths = headers.values("content-length");
    matches!(
        (lengths.next(), lengths.next()),
        (None, _) | (Some(b"0"), None)
    )
}

/// The whole answer: status line, the verdict's headers, `connection` where hyper would send
/// it, `content-length: 0` (not to HEAD) and `date`. Names in lower case, as hyper writes them.
fn write_answer(out: &mut Vec<u8>, verdict: &Verdict, request: &PlainRequest<'_, '_>) {
    let status = verdict.status();
    out.extend_from_slice(if request.version == 0 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    verdict.write_headers(out);
    if let Some(connection) = connection_header(request.version, request.keep_alive) {
        out.extend_from_slice(b"connection: ");
        out.extend_from_slice(connection.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !request.head {
        out.extend_from_slice(b"content-length: 0\r\n");
    }
    out.extend_from_slice(b"date: ");
    with_date(|date| out.extend_from_slice(date));
    out.extend_from_slice(b"\r\n\r\n");
}

/// The `date` value (IMF-fixdate), formatted once a second per thread as hyper does, from the
/// hot path's coarse clock.
fn with_date(f: impl FnOnce(&[u8])) {
    use std::cell::RefCell;
    thread_local! {
        static DATE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let second = now_coarse();
    DATE.with_borrow_mut(|(cached, text)| {
        if *cached != second {
            *cached = second;
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(second.max(0) as u64);
            *text = httpdate::fmt_http_date(at);
        }
        f(text.as_bytes());
    });
}

/// Hands the connection to hyper, which first reads what was already read here. Hyper's own
/// graceful shutdown then finishes the request under way and closes. With nothing read yet,
/// this is how the connection would be served without the loop (the fuzz target's reference).
pub async fn hand_over<S: Stream>(
    tcp: S,
    read: Vec<u8>,
    peer: SocketAddr,
    core: Arc<Core>,
    router: Router,
    shutdown: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Replay { read, at: 0, tcp });
    let service = Connection { core, router, peer };
    // A client that closes its sending side after its last request still gets the answer,
    // as the loop above gives it (hyper would otherwise drop the request under way).
    let conn = http1::Builder::new()
        .half_close(true)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shut_down(shutdown) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::trace!("connection from {peer} ended: {e}");
    }
}

/// The socket, with the bytes read before hyper took over given out first.
struct Replay<S> {
    read: Vec<u8>,
    at: usize,
    tcp: S,
}

impl<S: Stream> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.read.len() {
            let n = buf.remaining().min(this.read.len() - this.at);
            buf.put_slice(&this.read[this.at..this.at + n]);
            this.at += n;
            if this.at == this.read.len() {
                this.read = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl<S: Stream> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &[u8]) -> (u8, Vec<(String, Vec<u8>)>) {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        req.parse(raw).unwrap();
        let version = req.version.unwrap();
        let list = req
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect();
        (version, list)
    }

    fn connection(raw: &[u8]) -> Option<(bool, Option<&'static str>)> {
        let (version, list) = parsed(raw);
        let headers: Vec<httparse::Header<'_>> = list
            .iter()
            .map(|(name, value)| httparse::Header { name, value })
            .collect();
        keeps_alive(&headers, version).map(|k| (k, connection_header(version, k)))
    }

    #[test]
    fn connection_use_follows_the_version_and_header() {
        assert_eq!(connection(b"GET / HTTP/1.1\r\n\r\n"), Some((true, None)));
        assert_eq!(
            connection(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"),
            Some((false, Some("close")))
        );
        assert_eq!(connection(b"GET / HTTP/1.0\r\n\r\n"), Some((false, None)));
        assert_eq!(
            connection(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            None
        );
        assert_eq!(
            connection(b"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n"),
            None
        );
        assert_eq!(
            connection(b"GET / HTTP/1.1\r\nConnection: close\r\nConnection: close\r\n\r\n"),
            None
        );
    }

    #[test]
    fn only_plain_targets_are_taken() {
        assert_eq!(
            plain_target("/api/v2/auth/4?group=1&redirect=1?x"),
            Some(("/api/v2/auth/4", Some("group=1&redirect=1?x")))
        );
        assert_eq!(
            plain_target("/api/v2/auth?"),
            Some(("/api/v2/auth", Some("")))
        );
        assert_eq!(
            plain_target("/api/v2/auth%2F4"),
            Some(("/api/v2/auth%2F4", None))
        );
        for odd in [
            "api/v2/auth",
            "http://x/api/v2/auth",
            "/api/v2/auth#x",
            "/api/v2/auth?a=\"b\"",
            "/api/v2/auth/{x}",
            "/api/v2/aüth",
        ] {
            assert_eq!(plain_target(odd), None, "{odd}");
        }
    }

    #[test]
    fn a_body_or_an_expectation_goes_to_hyper() {
        let check = |raw: &[u8]| {
            let (_, list) = parsed(raw);
            let headers: Vec<httparse::Header<'_>> = list
                .iter()
                .map(|(name, value)| httparse::Header { name, value })
                .collect();
            has_no_body(&headers)
        };
        assert!(check(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(check(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
        assert!(!check(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"));
        assert!(!check(
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(!check(b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"));
        assert!(!check(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"));
    }
}
