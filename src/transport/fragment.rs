//! Fragmentation of large messages into datagrams, and their reassembly.
//!
//! Why here and not in IP: a whole CIB can be several MB, far above one UDP
//! datagram, and IP fragmentation loses the whole datagram when one fragment
//! is lost. We cut a message into datagram-sized fragments that travel as
//! ordinary reliable packets; the reliable layer retransmits only what is
//! lost and delivers fragments in order, so reassembly is just concatenation
//! with checks. The first fragment announces the total length, so the
//! receiver refuses a message above `max_message_bytes` before buffering it:
//! reassembly memory is bounded by one message per sender.
//!
//! ```
//! use systole::transport::fragment::{split, Reassembler};
//! let message = vec![7u8; 2500];
//! let mut reassembler = Reassembler::new(1 << 20);
//! let mut out = None;
//! for (first, last, bytes) in split(&message, 1000) {
//!     out = reassembler.push(first, last, bytes).unwrap();
//! }
//! assert_eq!(out, Some(message));
//! ```

/// Why a fragment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("message of {total_bytes} bytes exceeds max_message_bytes = {max_message_bytes}")]
    TooLarge {
        total_bytes: u32,
        max_message_bytes: usize,
    },
    #[error("fragment outside of a message")]
    Orphan,
    #[error("new message before the previous one ended")]
    Interrupted,
    #[error("fragments do not add up to the announced length")]
    LengthMismatch,
}

/// Cuts `payload` into fragments of at most `fragment_bytes`:
/// `(Some(total) on the first, is_last, bytes)`. An empty payload is one
/// empty fragment.
pub fn split(
    payload: &[u8],
    fragment_bytes: usize,
) -> impl Iterator<Item = (Option<u32>, bool, &[u8])> {
    assert!(fragment_bytes > 0);
    let total =
        u32::try_from(payload.len()).expect("message length checked against max_message_bytes");
    let count = payload.len().div_ceil(fragment_bytes).max(1);
    (0..count).map(move |i| {
        let start = i * fragment_bytes;
        let end = (start + fragment_bytes).min(payload.len());
        let first = (i == 0).then_some(total);
        (first, i + 1 == count, &payload[start..end])
    })
}

/// Reassembles the in-order fragments of one sender's stream.
#[derive(Debug)]
pub struct Reassembler {
    max_message_bytes: usize,
    partial: Option<(usize, Vec<u8>)>,
}

/// Largest allocation made up front for an announced message.
const PREALLOCATE_BYTES_MAX: usize = 1 << 20;

impl Reassembler {
    pub fn new(max_message_bytes: usize) -> Self {
        Reassembler {
            max_message_bytes,
            partial: None,
        }
    }

    /// Bytes held for a message not yet complete.
    pub fn buffered_bytes(&self) -> usize {
        self.partial.as_ref().map_or(0, |(_, buf)| buf.len())
    }

    /// Adds the next fragment; returns the message when it is complete.
    /// On error the partial message is dropped.
    pub fn push(
        &mut self,
        first: Option<u32>,
        last: bool,
        bytes: &[u8],
    ) -> Result<Option<Vec<u8>>, FragmentError> {
        let result = self.push_inner(first, last, bytes);
        if result.is_err() {
            self.partial = None;
        }
        result
    }

    fn push_inner(
        &mut self,
        first: Option<u32>,
        last: bool,
        bytes: &[u8],
    ) -> Result<Option<Vec<u8>>, FragmentError> {
        if let Some(total_bytes) = first {
            if self.partial.is_some() {
                return Err(FragmentError::Interrupted);
            }
            let total = total_bytes as usize;
            if total > self.max_message_bytes {
                return Err(FragmentError::TooLarge {
                    total_bytes,
                    max_message_bytes: self.max_message_bytes,
                });
            }
            self.partial = Some((total, Vec::with_capacity(total.min(PREALLOCATE_BYTES_MAX))));
        }
        let (total, buf) = self.partial.as_mut().ok_or(FragmentError::Orphan)?;
        if buf.len() + bytes.len() > *total {
            return Err(FragmentError::LengthMismatch);
        }
        buf.extend_from_slice(bytes);
        if !last {
            return Ok(None);
        }
        if buf.len() != *total {
            return Err(FragmentError::LengthMismatch);
        }
        Ok(self.partial.take().map(|(_, buf)| buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reassemble(message: &[u8], fragment_bytes: usize) -> Vec<u8> {
        let mut r = Reassembler::new(1 << 24);
        let pieces: Vec<_> = split(message, fragment_bytes).collect();
        let count = pieces.len();
        for (i, (first, last, bytes)) in pieces.into_iter().enumerate() {
            let out = r.push(first, last, bytes).unwrap();
            assert_eq!(out.is_some(), i + 1 == count);
            if let Some(out) = out {
                return out;
            }
        }
        unreachable!()
    }

    #[test]
    fn split_and_reassemble() {
        for len in [0, 1, 999, 1000, 1001, 5_000_000] {
            let message: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            assert_eq!(reassemble(&message, 1000), message, "{len}");
        }
        assert_eq!(split(&[0; 3000], 1000).count(), 3);
        assert_eq!(split(&[], 1000).count(), 1);
    }

    #[test]
    fn refuses_bad_sequences() {
        let mut r = Reassembler::new(100);
        assert_eq!(
            r.push(Some(101), true, &[0; 101]),
            Err(FragmentError::TooLarge {
                total_bytes: 101,
                max_message_bytes: 100
            })
        );
        assert_eq!(r.push(None, true, b"x"), Err(FragmentError::Orphan));
        assert_eq!(r.push(Some(4), false, b"ab"), Ok(None));
        assert_eq!(r.buffered_bytes(), 2);
        assert_eq!(
            r.push(Some(4), false, b"ab"),
            Err(FragmentError::Interrupted)
        );
        assert_eq!(r.buffered_bytes(), 0);
        assert_eq!(r.push(Some(4), false, b"ab"), Ok(None));
        assert_eq!(r.push(None, true, b"c"), Err(FragmentError::LengthMismatch));
        assert_eq!(
            r.push(Some(2), false, b"abc"),
            Err(FragmentError::LengthMismatch)
        );
        assert_eq!(r.push(Some(2), true, b"ab"), Ok(Some(b"ab".to_vec())));
    }
}
