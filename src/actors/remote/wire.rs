//! Frames on a TCP stream: the I/O half of [`super::session`].

use super::session::{frame_len, RemoteMsg, Session, SessionError, LENGTH_BYTES};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a connection ended while reading.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection closed")]
    Closed,
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Refused(#[from] SessionError),
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Reads and opens one frame.
pub async fn read_msg<R: AsyncRead + Unpin>(
    reader: &mut R,
    session: &Mutex<Session>,
    unbound_ok: bool,
) -> Result<RemoteMsg, WireError> {
    let mut prefix = [0u8; LENGTH_BYTES];
    match reader.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = frame_len(prefix)?;
    let mut frame = vec![0u8; len];
    match reader.read_exact(&mut frame).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
        Err(e) => return Err(e.into()),
    }
    let msg = session
        .lock()
        .expect("session lock")
        .open(&mut frame, unbound_ok)?;
    Ok(msg)
}

/// Seals and writes one frame.
pub async fn write_msg<W: AsyncWrite + Unpin>(
    writer: &mut W,
    session: &Mutex<Session>,
    msg: &RemoteMsg,
) -> std::io::Result<()> {
    let frame = session.lock().expect("session lock").seal(msg, now_ms());
    writer.write_all(&frame).await
}

/// Writes every message queued on `outbox` until it closes or a write fails.
pub fn spawn_writer<W: AsyncWrite + Unpin + Send + 'static>(
    mut writer: W,
    session: Arc<Mutex<Session>>,
    mut outbox: tokio::sync::mpsc::Receiver<RemoteMsg>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(msg) = outbox.recv().await {
            if let Err(error) = write_msg(&mut writer, &session, &msg).await {
                tracing::debug!(%error, "remote connection: write failed");
                break;
            }
        }
        let _ = writer.shutdown().await;
    })
}
