//! The connections [`crate::serve`] accepts: a problem body for hyper's own answers.
//!
//! hyper answers a request it cannot parse before the router sees it: a head over its buffer
//! or with too many header fields is a 431, a malformed request line or header a 400, a
//! request target too long a 414. Those answers are a bare status line with
//! `content-length: 0`, and every failure of this API is RFC 9457 problem JSON. hyper has
//! no hook for them, so each accepted connection is wrapped ([`ProblemIo`]): when hyper
//! writes one of its own error heads (a 4xx head with no `content-type` and an empty body,
//! which the router never sends: every 4xx it answers is a problem, see
//! `problem::problemize`), the connection sends the problem for that status instead, with
//! the security headers of every other answer. Every other byte passes through untouched;
//! the check is a comparison of the first bytes of a write.
//!
//! A host that serves the router with `axum::serve` itself keeps hyper's bare answers.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::problem::Problem;

/// The statuses hyper answers by itself on a parse error (`hyper::proto::h1::role`).
const HYPER_OWN: [(&[u8], StatusCode); 3] = [
    (b"HTTP/1.1 400 ", StatusCode::BAD_REQUEST),
    (b"HTTP/1.1 414 ", StatusCode::URI_TOO_LONG),
    (
        b"HTTP/1.1 431 ",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    ),
];

/// The longest head hyper writes for its own answer (a status line, `content-length: 0` and
/// `date`); anything longer is not one.
const MAX_OWN_HEAD: usize = 512;

/// If `buf` is all of one of hyper's own error answers, its status.
fn hyper_error(buf: &[u8]) -> Option<StatusCode> {
    if buf.len() > MAX_OWN_HEAD || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let (_, status) = HYPER_OWN
        .iter()
        .find(|(prefix, _)| buf.starts_with(prefix))?;
    let head = std::str::from_utf8(buf).ok()?.to_ascii_lowercase();
    let bodiless = head.contains("\r\ncontent-length: 0\r\n");
    let typed = head.contains("\r\ncontent-type:");
    // Exactly one head: the end of the head is the end of the write.
    let one = head.find("\r\n\r\n") == Some(head.len() - 4);
    (bodiless && !typed && one).then_some(*status)
}

/// The bytes to send for hyper's answer `own` (its head, status `status`): its status line
/// and `date`, then the problem's headers, `connection: close` and the problem's body.
fn problem_answer(own: &[u8], status: StatusCode) -> Vec<u8> {
    let problem = Problem::for_status(status);
    let body = problem.json_bytes();
    let (parts, _) = crate::headers::secure_default(problem.into_response()).into_parts();
    let head = String::from_utf8_lossy(own);
    let mut out = Vec::with_capacity(own.len() + 512 + body.len());
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-length:") || lower.starts_with("connection:") {
            continue;
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in &parts.headers {
        if name == axum::http::header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(&body);
    out
}

/// An accepted connection; see the module docs.
pub(crate) struct ProblemIo<T> {
    inner: T,
    /// The problem being sent in place of hyper's answer, and how much of it is sent.
    replacing: Option<(Vec<u8>, usize)>,
}

impl<T> ProblemIo<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            replacing: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> ProblemIo<T> {
    /// Sends what is left of the replacement; ready when all of it is out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.replacing {
            let rest = match bytes.get(*sent..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => {
                    self.replacing = None;
                    break;
                }
            };
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes `buf`, hyper's own answer (`status`) replaced by the problem; hyper is told all
    /// of its bytes went out once all of the problem's did.
    fn poll_write_checked(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.replacing.is_none()
            && let Some(status) = hyper_error(buf)
        {
            self.replacing = Some((problem_answer(buf, status), 0));
        }
        if self.replacing.is_some() {
            ready!(self.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_checked(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        // hyper's own answer is one buffer; check it alone (a write of several is a
        // response of the router's: a head and its body).
        if let (Some(first), None) = (filled.next(), filled.next())
            && (this.replacing.is_some() || hyper_error(first).is_some())
        {
            return this.poll_write_checked(cx, first);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// A [`TcpListener`] whose connections are [`ProblemIo`]s.
pub(crate) struct Listener(pub(crate) TcpListener);

impl axum::serve::Listener for Listener {
    type Io = ProblemIo<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (ProblemIo::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const OWN_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 06:00:00 GMT\r\n\r\n";

    #[test]
    fn only_hypers_own_bodiless_error_heads_are_recognized() {
        assert_eq!(
            hyper_error(OWN_431),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        assert_eq!(
            hyper_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
            Some(StatusCode::BAD_REQUEST)
        );
        for not_hypers in [
            // The router's: a problem with its type.
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n"[..],
            // A body follows.
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            // Two heads in one write.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 431 ",
        ] {
            assert_eq!(hyper_error(not_hypers), None);
        }
    }

    #[test]
    fn the_replacement_is_a_problem_with_the_security_headers() {
        let answer = String::from_utf8(problem_answer(
            OWN_431,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ))
        .unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("\r\ndate: Wed, 02 Dec 2026 06:00:00 GMT"));
        assert!(head.contains("\r\ncontent-type: application/problem+json"));
        assert!(head.contains("\r\nx-content-type-options: nosniff"));
        assert!(head.contains("\r\nconnection: close"));
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
        assert!(!head.contains("content-length: 0"));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 431);
    }
}
