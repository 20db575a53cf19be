//! The CLI's side of the control socket: one request, one answer, retried
//! while the node is busy.

use super::protocol::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Waits before the retries of a request refused as busy: a few, growing.
pub const CONTROL_BUSY_BACKOFF_MS: [u64; 4] = [100, 250, 500, 1000];

/// The CLI's side: one request, one answer. A busy node is asked again
/// after each of [`CONTROL_BUSY_BACKOFF_MS`] (nothing was done), then
/// [`ControlError::Busy`].
pub fn call(
    socket: &Path,
    request: &ControlRequest,
    timeout_ms: u64,
) -> Result<ControlResponse, ControlError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match call_once(socket, request, timeout_ms)? {
            ControlResponse::Busy {
                node,
                retry_after_ms,
            } => match CONTROL_BUSY_BACKOFF_MS.get(attempts - 1) {
                Some(backoff_ms) => {
                    let wait_ms = (*backoff_ms).max(retry_after_ms.min(5_000));
                    std::thread::sleep(Duration::from_millis(wait_ms));
                }
                None => return Err(ControlError::Busy { node, attempts }),
            },
            answer => return Ok(answer),
        }
    }
}

pub(crate) fn call_once(
    socket: &Path,
    request: &ControlRequest,
    timeout_ms: u64,
) -> Result<ControlResponse, ControlError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| ControlError::Connect {
        path: socket.display().to_string(),
        source,
    })?;
    stream.set_read_timeout(Some(Duration::from_millis(timeout_ms)))?;
    stream.set_write_timeout(Some(Duration::from_millis(timeout_ms)))?;
    // A timeout is EAGAIN from the kernel ("Resource temporarily
    // unavailable"): say what happened instead.
    let timed_out = |error: ControlError| match error {
        ControlError::Io(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            ControlError::NoAnswer {
                path: socket.display().to_string(),
                timeout_ms,
            }
        }
        other => other,
    };
    stream
        .write_all(&encode_frame(request)?)
        .map_err(|e| timed_out(e.into()))?;
    let body = read_frame(&mut stream).map_err(timed_out)?;
    decode_body(&body)
}
