//! Authentication and encryption of every datagram, and the authkey file.
//!
//! Why this shape: all nodes share one 32-byte cluster key (the authkey
//! file), but an AEAD nonce must never repeat under one key. Counting nonces
//! across nodes and restarts would need coordination or a persisted counter,
//! so instead each sender seals with its own key, derived with HKDF from the
//! cluster key, the cluster name, its node name and its *incarnation* (a
//! value fresh at every start: boot time in ms and random bits). Within one
//! (sender, incarnation) the nonce is a plain counter from 0. A restart gives
//! a new incarnation, hence a new key, so a nonce is never reused even though
//! the counter starts again.
//!
//! The header carries a 4-byte fingerprint of the cluster key, so a datagram
//! sealed under another key (or for another cluster) is told apart from a
//! forgery and counted as such. The header itself is the AEAD's associated
//! data: nothing in it can be changed without the tag failing.
//!
//! ```
//! use systole::transport::auth::{AuthKey, Opener, Sealer};
//! use systole::transport::frame::{Frame, Plain};
//! let key = AuthKey::from_bytes([7; 32]);
//! let mut sealer = Sealer::new(&key, "demo", "node1", 42);
//! let mut opener = Opener::new(&key, "demo");
//! let mut datagram = sealer.seal(&Plain { timestamp_ms: 1, frame: Frame::Goodbye });
//! let opened = opener.open(&mut datagram).unwrap();
//! assert_eq!((opened.sender, opened.incarnation), ("node1", 42));
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};

use super::frame::{FrameError, Header, Plain, KEY_ID_BYTES, PLAIN_HEADER_BYTES, TAG_BYTES};
use super::TransportError;

/// Bytes in an authkey file: exactly one 256-bit key.
pub const AUTHKEY_BYTES: usize = 32;
/// Most (sender, incarnation) keys an [`Opener`] keeps derived.
const OPENER_KEYS_MAX: usize = 256;

/// The shared cluster key.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey {
    bytes: [u8; AUTHKEY_BYTES],
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKey(..)")
    }
}

impl AuthKey {
    pub fn from_bytes(bytes: [u8; AUTHKEY_BYTES]) -> Self {
        AuthKey { bytes }
    }

    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self, TransportError> {
        let mut bytes = [0; AUTHKEY_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| TransportError::Config("system random generator failed".into()))?;
        Ok(AuthKey { bytes })
    }

    /// Fingerprint of the key for one cluster, sent in every header.
    fn key_id(&self, cluster_name: &str) -> [u8; KEY_ID_BYTES] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.bytes);
        let mut message = b"systole key id\0".to_vec();
        message.extend_from_slice(cluster_name.as_bytes());
        let tag = hmac::sign(&key, &message);
        let mut id = [0; KEY_ID_BYTES];
        id.copy_from_slice(&tag.as_ref()[..KEY_ID_BYTES]);
        id
    }

    /// The sealing key of one sender's incarnation.
    fn derive(&self, cluster_name: &str, sender: &str, incarnation: u64) -> LessSafeKey {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"systole transport v1");
        let prk = salt.extract(&self.bytes);
        let cluster_len = (cluster_name.len() as u32).to_be_bytes();
        let sender_len = (sender.len() as u32).to_be_bytes();
        let incarnation = incarnation.to_be_bytes();
        let info: [&[u8]; 6] = [
            b"datagram key",
            &cluster_len,
            cluster_name.as_bytes(),
            &sender_len,
            sender.as_bytes(),
            &incarnation,
        ];
        let okm = prk
            .expand(&info, &CHACHA20_POLY1305)
            .expect("HKDF output length of one AEAD key is valid");
        LessSafeKey::new(UnboundKey::from(okm))
    }
}

/// Writes a new random authkey to `path`, mode 0600, replacing any old one
/// atomically (written beside it, then renamed).
pub fn keygen(path: impl AsRef<Path>) -> Result<(), TransportError> {
    let path = path.as_ref();
    let key = AuthKey::generate()?;
    let error = |reason: String| TransportError::AuthKey {
        path: path.to_path_buf(),
        reason,
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| error("not a file path".into()))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(&key.bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        error(format!("cannot write: {e}"))
    })
}

/// Reads the authkey at `path`; refuses a file that group or others can
/// access, or that is not exactly [`AUTHKEY_BYTES`] long.
pub fn load_authkey(path: impl AsRef<Path>) -> Result<AuthKey, TransportError> {
    let path = path.as_ref();
    let error = |reason: String| TransportError::AuthKey {
        path: path.to_path_buf(),
        reason,
    };
    let metadata = std::fs::metadata(path).map_err(|e| error(format!("cannot read: {e}")))?;
    // Checked before reading: a FIFO or a device would hang or never end.
    if !metadata.is_file() {
        return Err(error(format!(
            "is a {}, not a regular file (make one with `systole keygen`)",
            crate::os::file_kind(&metadata)
        )));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(error(format!(
            "mode {mode:04o} lets group or others access the cluster key; run `chmod 600` on it"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| error(format!("cannot read: {e}")))?;
    let bytes: [u8; AUTHKEY_BYTES] = bytes.as_slice().try_into().map_err(|_| {
        error(format!(
            "is {} bytes, an authkey is exactly {AUTHKEY_BYTES} bytes (make one with `systole keygen`)",
            bytes.len()
        ))
    })?;
    Ok(AuthKey { bytes })
}

fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0; aead::NONCE_LEN];
    bytes[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// Seals datagrams for one sender incarnation; owns its nonce counter.
pub struct Sealer {
    key: LessSafeKey,
    key_id: [u8; KEY_ID_BYTES],
    sender: String,
    incarnation: u64,
    counter: u64,
}

impl Sealer {
    pub fn new(key: &AuthKey, cluster_name: &str, sender: &str, incarnation: u64) -> Self {
        Sealer {
            key: key.derive(cluster_name, sender, incarnation),
            key_id: key.key_id(cluster_name),
            sender: sender.to_owned(),
            incarnation,
            counter: 0,
        }
    }

    /// Bytes a datagram adds around the encoded frame: header, timestamp and kind, tag.
    pub fn overhead_bytes(&self) -> usize {
        Header::encoded_len(&self.sender) + PLAIN_HEADER_BYTES + TAG_BYTES
    }

    pub fn seal(&mut self, plain: &Plain) -> Vec<u8> {
        let counter = self.counter;
        // Never wraps in practice (2^64 datagrams); if it did, a nonce would repeat.
        self.counter = counter.checked_add(1).expect("nonce counter exhausted");
        let mut out = Vec::with_capacity(self.overhead_bytes() + 64);
        Header {
            key_id: self.key_id,
            sender: &self.sender,
            incarnation: self.incarnation,
            counter,
        }
        .encode(&mut out);
        let header_len = out.len();
        plain.encode(&mut out);
        let (aad, body) = out.split_at_mut(header_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(counter), Aad::from(&*aad), body)
            .expect("ChaCha20-Poly1305 seals any datagram-sized message");
        out.extend_from_slice(tag.as_ref());
        out
    }
}

/// Why a datagram was refused before its contents were trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("truncated datagram")]
    Truncated,
    #[error("malformed datagram")]
    Malformed,
    #[error("sealed under another key or for another cluster")]
    WrongKey,
    #[error("authentication tag does not verify")]
    Forged,
}

/// A datagram that passed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened<'a> {
    pub sender: &'a str,
    pub incarnation: u64,
    pub counter: u64,
    pub plain: Plain,
}

/// Opens datagrams from any sender; caches the derived key of each sender's
/// latest incarnation.
pub struct Opener {
    key: AuthKey,
    key_id: [u8; KEY_ID_BYTES],
    cluster_name: String,
    keys: BTreeMap<String, (u64, LessSafeKey)>,
}

impl Opener {
    pub fn new(key: &AuthKey, cluster_name: &str) -> Self {
        Opener {
            key: key.clone(),
            key_id: key.key_id(cluster_name),
            cluster_name: cluster_name.to_owned(),
            keys: BTreeMap::new(),
        }
    }

    /// Authenticates and decrypts `datagram` in place.
    pub fn open<'a>(&mut self, datagram: &'a mut [u8]) -> Result<Opened<'a>, OpenError> {
        let header_len = match Header::decode(datagram) {
            Ok((_, len)) => len,
            Err(FrameError::Truncated) => return Err(OpenError::Truncated),
            Err(_) => return Err(OpenError::Malformed),
        };
        if datagram.len() < header_len + PLAIN_HEADER_BYTES + TAG_BYTES {
            return Err(OpenError::Truncated);
        }
        let (head, body) = datagram.split_at_mut(header_len);
        let (header, _) = Header::decode(head).map_err(|_| OpenError::Malformed)?;
        if header.key_id != self.key_id {
            return Err(OpenError::WrongKey);
        }
        let cached =
            matches!(self.keys.get(header.sender), Some((inc, _)) if *inc == header.incarnation);
        let derived;
        let key = if cached {
            &self.keys[header.sender].1
        } else {
            derived = self
                .key
                .derive(&self.cluster_name, header.sender, header.incarnation);
            &derived
        };
        let plaintext = key
            .open_in_place(nonce(header.counter), Aad::from(&*head), body)
            .map_err(|_| OpenError::Forged)?;
        let plain = Plain::decode(plaintext).map_err(|_| OpenError::Malformed)?;
        if !cached {
            self.remember(header.sender, header.incarnation);
        }
        Ok(Opened {
            sender: header.sender,
            incarnation: header.incarnation,
            counter: header.counter,
            plain,
        })
    }

    /// Keeps the key of a sender's newest authenticated incarnation.
    fn remember(&mut self, sender: &str, incarnation: u64) {
        if let Some((known, _)) = self.keys.get(sender) {
            if *known > incarnation {
                return;
            }
        } else if self.keys.len() >= OPENER_KEYS_MAX {
            self.keys.pop_first();
        }
        let key = self.key.derive(&self.cluster_name, sender, incarnation);
        self.keys.insert(sender.to_owned(), (incarnation, key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::frame::Frame;

    fn plain() -> Plain {
        Plain {
            timestamp_ms: 99,
            frame: Frame::Heartbeat { seen: vec![1, 2] },
        }
    }

    #[test]
    fn seal_then_open() {
        let key = AuthKey::from_bytes([1; 32]);
        let mut sealer = Sealer::new(&key, "c", "n1", 5);
        let mut opener = Opener::new(&key, "c");
        for counter in 0..3 {
            let mut datagram = sealer.seal(&plain());
            assert_eq!(datagram.len(), sealer.overhead_bytes() + 1 + 16);
            let opened = opener.open(&mut datagram).unwrap();
            assert_eq!(opened.counter, counter);
            assert_eq!(opened.plain, plain());
        }
    }

    #[test]
    fn wrong_key_and_wrong_cluster_are_told_apart() {
        let mut sealer = Sealer::new(&AuthKey::from_bytes([1; 32]), "c", "n1", 5);
        let mut datagram = sealer.seal(&plain());
        let mut other_key = Opener::new(&AuthKey::from_bytes([2; 32]), "c");
        assert_eq!(
            other_key.open(&mut datagram.clone()),
            Err(OpenError::WrongKey)
        );
        let mut other_cluster = Opener::new(&AuthKey::from_bytes([1; 32]), "d");
        assert_eq!(other_cluster.open(&mut datagram), Err(OpenError::WrongKey));
    }

    #[test]
    fn forged_tag_body_or_header_fail() {
        let key = AuthKey::from_bytes([1; 32]);
        let mut sealer = Sealer::new(&key, "c", "n1", 5);
        let mut opener = Opener::new(&key, "c");
        let datagram = sealer.seal(&plain());
        let header_len = Header::encoded_len("n1");
        // Flip a bit in the tag, the ciphertext, the counter and the incarnation.
        for index in [
            datagram.len() - 1,
            header_len + 2,
            header_len - 1,
            header_len - 9,
        ] {
            let mut forged = datagram.clone();
            forged[index] ^= 1;
            assert_eq!(opener.open(&mut forged), Err(OpenError::Forged), "{index}");
        }
        // The same datagram attributed to another sender of the same length.
        let mut forged = datagram.clone();
        forged[MAGIC_LEN + KEY_ID_BYTES + 2] = b'2';
        assert_eq!(opener.open(&mut forged), Err(OpenError::Forged));
    }
    const MAGIC_LEN: usize = 4;

    #[test]
    fn truncated_and_garbage() {
        let key = AuthKey::from_bytes([1; 32]);
        let mut sealer = Sealer::new(&key, "c", "n1", 5);
        let mut opener = Opener::new(&key, "c");
        let datagram = sealer.seal(&plain());
        for len in 0..datagram.len() {
            let mut cut = datagram[..len].to_vec();
            let result = opener.open(&mut cut);
            assert!(
                matches!(result, Err(OpenError::Truncated | OpenError::Forged)),
                "{len}: {result:?}"
            );
        }
        assert_eq!(
            opener.open(&mut b"garbage garbage garbage".to_vec()),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn keygen_writes_0600_and_load_checks_mode_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authkey");
        keygen(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = load_authkey(&path).unwrap();
        keygen(&path).unwrap();
        assert_ne!(load_authkey(&path).unwrap(), first, "a new key each time");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = load_authkey(&path).unwrap_err().to_string();
        assert!(error.contains("group or others"), "{error}");

        let short = dir.path().join("short");
        std::fs::write(&short, [0u8; 16]).unwrap();
        std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
        let error = load_authkey(&short).unwrap_err().to_string();
        assert!(error.contains("exactly 32 bytes"), "{error}");

        assert!(load_authkey(dir.path().join("missing")).is_err());
    }
}
