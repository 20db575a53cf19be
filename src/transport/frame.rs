//! The wire format, written and read by hand.
//!
//! Why by hand rather than with serde: every byte that arrives from the
//! network is hostile until proven otherwise, so decoding must never panic,
//! never allocate more than the datagram it reads, and must say exactly how a
//! datagram was bad (truncated, malformed) so the caller can count it. A
//! hand-written reader over a bounds-checked cursor gives all three and fixes
//! the sizes we need to compute fragment lengths.
//!
//! A datagram is a plaintext [`Header`] (authenticated as AEAD associated data)
//! followed by the ciphertext of a [`Plain`] message and a 16-byte tag:
//!
//! ```text
//! magic "SYT1" | key id (4) | sender len (1) | sender | incarnation u64 | counter u64
//! ciphertext( timestamp_ms u64 | kind u8 | body ) | tag (16)
//! ```
//!
//! All integers are big-endian.
//!
//! ```
//! use systole::transport::frame::{Frame, Plain};
//! let plain = Plain { timestamp_ms: 7, frame: Frame::Goodbye };
//! let mut bytes = Vec::new();
//! plain.encode(&mut bytes);
//! assert_eq!(Plain::decode(&bytes).unwrap(), plain);
//! ```

/// First bytes of every datagram: protocol name and version.
pub const MAGIC: [u8; 4] = *b"SYT1";
/// Longest node name on the wire (and in the configuration).
pub const NODE_NAME_BYTES_MAX: usize = 64;
/// Bytes of the key fingerprint in the header.
pub const KEY_ID_BYTES: usize = 4;
/// Bytes of the AEAD tag that follows the ciphertext.
pub const TAG_BYTES: usize = 16;
/// Most incarnations a heartbeat may echo (one per peer heard).
pub const HEARTBEAT_SEEN_MAX: usize = 64;
/// Bytes of a plaintext message before its body: timestamp and kind.
pub const PLAIN_HEADER_BYTES: usize = 8 + 1;
/// Bytes of a data frame's own header: to_incarnation, epoch, seq, flags, total length.
pub const DATA_HEADER_BYTES: usize = 8 + 8 + 8 + 1 + 4;

const KIND_HEARTBEAT: u8 = 1;
const KIND_GOODBYE: u8 = 2;
const KIND_DATA: u8 = 3;
const KIND_ACK: u8 = 4;

const FLAG_FIRST: u8 = 0b01;
const FLAG_LAST: u8 = 0b10;

/// How a datagram failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("datagram truncated")]
    Truncated,
    #[error("bad magic: not a systole datagram of this version")]
    BadMagic,
    #[error("malformed datagram: {0}")]
    Malformed(&'static str),
}

/// The plaintext header of a datagram; authenticated, not encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Fingerprint of the cluster key, to tell a wrong key from a forgery.
    pub key_id: [u8; KEY_ID_BYTES],
    pub sender: &'a str,
    /// The sender's incarnation: changes at every start of its transport.
    pub incarnation: u64,
    /// The AEAD nonce counter: strictly increasing per (sender, incarnation).
    pub counter: u64,
}

impl<'a> Header<'a> {
    /// Bytes this header takes on the wire.
    pub fn encoded_len(sender: &str) -> usize {
        MAGIC.len() + KEY_ID_BYTES + 1 + sender.len() + 8 + 8
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        assert!(!self.sender.is_empty() && self.sender.len() <= NODE_NAME_BYTES_MAX);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.key_id);
        out.push(self.sender.len() as u8);
        out.extend_from_slice(self.sender.as_bytes());
        out.extend_from_slice(&self.incarnation.to_be_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
    }

    /// Reads a header; returns it and the number of bytes it took.
    pub fn decode(buf: &'a [u8]) -> Result<(Header<'a>, usize), FrameError> {
        let mut r = Reader::new(buf);
        if r.take(MAGIC.len())? != MAGIC {
            return Err(FrameError::BadMagic);
        }
        let key_id: [u8; KEY_ID_BYTES] = r.array()?;
        let sender_len = usize::from(r.u8()?);
        if sender_len == 0 || sender_len > NODE_NAME_BYTES_MAX {
            return Err(FrameError::Malformed("sender name length"));
        }
        let sender = std::str::from_utf8(r.take(sender_len)?)
            .map_err(|_| FrameError::Malformed("sender name not UTF-8"))?;
        let incarnation = r.u64()?;
        let counter = r.u64()?;
        Ok((
            Header {
                key_id,
                sender,
                incarnation,
                counter,
            },
            r.pos,
        ))
    }
}

/// One piece of a reliable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    /// The receiver's incarnation this stream is meant for.
    pub to_incarnation: u64,
    /// The sender's stream epoch: a new epoch restarts sequence numbers.
    pub epoch: u64,
    /// Sequence number within the epoch, from 1.
    pub seq: u64,
    /// Set on the first fragment of a message: the message's total length.
    pub first: Option<u32>,
    /// Set on the last fragment of a message.
    pub last: bool,
    pub bytes: Vec<u8>,
}

/// Acknowledgement of a reliable stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The data sender's incarnation this ack is meant for.
    pub to_incarnation: u64,
    pub epoch: u64,
    /// Every seq below this was received.
    pub cumulative: u64,
    /// Bit i set: seq `cumulative + 1 + i` was received too.
    pub selective: u64,
}

/// What a datagram carries, once decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// "I am alive"; `seen` echoes the incarnations of the peers the sender
    /// hears, which proves to each of them that the heartbeat is fresh.
    Heartbeat {
        seen: Vec<u64>,
    },
    /// "I am shutting down cleanly."
    Goodbye,
    Data(Data),
    Ack(Ack),
}

/// The plaintext inside a datagram: a timestamp and a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    /// Sender's wall clock, ms since the Unix epoch: old datagrams are refused.
    pub timestamp_ms: u64,
    pub frame: Frame,
}

impl Plain {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        match &self.frame {
            Frame::Heartbeat { seen } => {
                assert!(seen.len() <= HEARTBEAT_SEEN_MAX);
                out.push(KIND_HEARTBEAT);
                out.push(seen.len() as u8);
                for incarnation in seen {
                    out.extend_from_slice(&incarnation.to_be_bytes());
                }
            }
            Frame::Goodbye => out.push(KIND_GOODBYE),
            Frame::Data(data) => {
                out.push(KIND_DATA);
                out.extend_from_slice(&data.to_incarnation.to_be_bytes());
                out.extend_from_slice(&data.epoch.to_be_bytes());
                out.extend_from_slice(&data.seq.to_be_bytes());
                let mut flags = 0;
                if data.first.is_some() {
                    flags |= FLAG_FIRST;
                }
                if data.last {
                    flags |= FLAG_LAST;
                }
                out.push(flags);
                if let Some(total) = data.first {
                    out.extend_from_slice(&total.to_be_bytes());
                }
                out.extend_from_slice(&data.bytes);
            }
            Frame::Ack(ack) => {
                out.push(KIND_ACK);
                out.extend_from_slice(&ack.to_incarnation.to_be_bytes());
                out.extend_from_slice(&ack.epoch.to_be_bytes());
                out.extend_from_slice(&ack.cumulative.to_be_bytes());
                out.extend_from_slice(&ack.selective.to_be_bytes());
            }
        }
    }

    pub fn decode(buf: &[u8]) -> Result<Plain, FrameError> {
        let mut r = Reader::new(buf);
        let timestamp_ms = r.u64()?;
        let frame = match r.u8()? {
            KIND_HEARTBEAT => {
                let count = usize::from(r.u8()?);
                if count > HEARTBEAT_SEEN_MAX {
                    return Err(FrameError::Malformed("heartbeat echoes too many peers"));
                }
                let seen = (0..count).map(|_| r.u64()).collect::<Result<_, _>>()?;
                Frame::Heartbeat { seen }
            }
            KIND_GOODBYE => Frame::Goodbye,
            KIND_DATA => {
                let to_incarnation = r.u64()?;
                let epoch = r.u64()?;
                let seq = r.u64()?;
                let flags = r.u8()?;
                if flags & !(FLAG_FIRST | FLAG_LAST) != 0 {
                    return Err(FrameError::Malformed("unknown data flags"));
                }
                let first = if flags & FLAG_FIRST != 0 {
                    Some(r.u32()?)
                } else {
                    None
                };
                Frame::Data(Data {
                    to_incarnation,
                    epoch,
                    seq,
                    first,
                    last: flags & FLAG_LAST != 0,
                    bytes: r.rest().to_vec(),
                })
            }
            KIND_ACK => Frame::Ack(Ack {
                to_incarnation: r.u64()?,
                epoch: r.u64()?,
                cumulative: r.u64()?,
                selective: r.u64()?,
            }),
            _ => return Err(FrameError::Malformed("unknown frame kind")),
        };
        if !r.is_empty() {
            return Err(FrameError::Malformed("trailing bytes"));
        }
        Ok(Plain {
            timestamp_ms,
            frame,
        })
    }
}

/// A bounds-checked cursor: every read either succeeds or says `Truncated`.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let end = self.pos.checked_add(n).ok_or(FrameError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(FrameError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(frame: Frame) {
        let plain = Plain {
            timestamp_ms: 1_700_000_000_000,
            frame,
        };
        let mut bytes = Vec::new();
        plain.encode(&mut bytes);
        assert_eq!(Plain::decode(&bytes), Ok(plain));
    }

    #[test]
    fn frames_roundtrip() {
        roundtrip(Frame::Heartbeat { seen: vec![] });
        roundtrip(Frame::Heartbeat {
            seen: vec![1, u64::MAX, 42],
        });
        roundtrip(Frame::Goodbye);
        roundtrip(Frame::Data(Data {
            to_incarnation: 9,
            epoch: 2,
            seq: 77,
            first: Some(5),
            last: true,
            bytes: b"hello".to_vec(),
        }));
        roundtrip(Frame::Data(Data {
            to_incarnation: 9,
            epoch: 2,
            seq: 78,
            first: None,
            last: false,
            bytes: vec![],
        }));
        roundtrip(Frame::Ack(Ack {
            to_incarnation: 1,
            epoch: 3,
            cumulative: 10,
            selective: 0b101,
        }));
    }

    #[test]
    fn header_roundtrip_and_len() {
        let header = Header {
            key_id: [1, 2, 3, 4],
            sender: "node1",
            incarnation: 5,
            counter: 6,
        };
        let mut bytes = Vec::new();
        header.encode(&mut bytes);
        assert_eq!(bytes.len(), Header::encoded_len("node1"));
        bytes.extend_from_slice(b"payload");
        let (decoded, len) = Header::decode(&bytes).unwrap();
        assert_eq!(decoded, header);
        assert_eq!(len, Header::encoded_len("node1"));
    }

    #[test]
    fn bad_headers_are_named() {
        assert_eq!(Header::decode(b"SY"), Err(FrameError::Truncated));
        assert_eq!(Header::decode(b"XXXX1234"), Err(FrameError::BadMagic));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 0, 0]);
        assert!(matches!(
            Header::decode(&bytes),
            Err(FrameError::Malformed(_))
        ));
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 0, 3, b'a']);
        assert_eq!(Header::decode(&bytes), Err(FrameError::Truncated));
    }

    #[test]
    fn bad_plains_are_named() {
        assert_eq!(Plain::decode(&[0; 5]), Err(FrameError::Truncated));
        let mut bytes = 0u64.to_be_bytes().to_vec();
        bytes.push(99);
        assert!(matches!(
            Plain::decode(&bytes),
            Err(FrameError::Malformed(_))
        ));
        let mut bytes = Vec::new();
        Plain {
            timestamp_ms: 1,
            frame: Frame::Goodbye,
        }
        .encode(&mut bytes);
        bytes.push(0);
        assert!(matches!(
            Plain::decode(&bytes),
            Err(FrameError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = Header::decode(&bytes);
            let _ = Plain::decode(&bytes);
        }

        #[test]
        fn decoding_mutated_frames_never_panics(
            seq in any::<u64>(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            flip in any::<usize>(),
            cut in any::<usize>(),
        ) {
            let mut bytes = Vec::new();
            Plain { timestamp_ms: seq, frame: Frame::Data(Data {
                to_incarnation: seq, epoch: 1, seq, first: Some(body.len() as u32), last: true, bytes: body,
            })}.encode(&mut bytes);
            let i = flip % bytes.len();
            bytes[i] ^= 0xff;
            bytes.truncate(cut % (bytes.len() + 1));
            let _ = Plain::decode(&bytes);
            let _ = Header::decode(&bytes);
        }
    }
}
