//! Who may use the web console: the daemon's own users (a users file with
//! PBKDF2-HMAC-SHA256 hashes), each in groups that map to admin or read-only
//! exactly as the control socket decides ([`crate::actors::access::access`]);
//! sessions with random cookies, and a per-session token against cross-site
//! requests on every action.

use crate::actors::access::{access, AccessPolicy};
use crate::actors::control_socket::{Access, Caller};
use ring::rand::SecureRandom;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// PBKDF2 iterations for new hashes (OWASP's figure for HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Fewest iterations a users file may ask for.
pub const PBKDF2_ITERATIONS_MIN: u32 = 10_000;
const HASH_BYTES: usize = 32;
const SALT_BYTES: usize = 16;
/// How long a session lasts without use.
pub const SESSION_IDLE_MS: u64 = 8 * 3600 * 1000;
/// Sessions kept at once (the oldest go first).
pub const SESSIONS_MAX: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUser {
    pub name: String,
    pub groups: Vec<String>,
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsersError {
    #[error("users file line {line}: {why} (expected NAME:GROUP[,GROUP]:pbkdf2-sha256:ITERATIONS:SALT_HEX:HASH_HEX; `systole web passwd` writes one)")]
    Line { line: usize, why: String },
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Reads a users file: one user a line, `#` comments.
pub fn parse_users(text: &str) -> Result<Vec<WebUser>, UsersError> {
    let mut users = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |why: &str| UsersError::Line {
            line: i + 1,
            why: why.to_string(),
        };
        let fields: Vec<&str> = line.split(':').collect();
        let [name, groups, scheme, iterations, salt, hash] = fields[..] else {
            return Err(fail("not six fields"));
        };
        if name.is_empty() || scheme != "pbkdf2-sha256" {
            return Err(fail("empty name or unknown scheme"));
        }
        let iterations: u32 = iterations
            .parse()
            .ok()
            .filter(|n| *n >= PBKDF2_ITERATIONS_MIN)
            .ok_or_else(|| fail("iterations not a number of at least 10000"))?;
        let (Some(salt), Some(hash)) = (unhex(salt), unhex(hash)) else {
            return Err(fail("salt or hash is not hex"));
        };
        if hash.len() != HASH_BYTES || salt.is_empty() {
            return Err(fail("hash is not 32 bytes or salt is empty"));
        }
        users.push(WebUser {
            name: name.to_string(),
            groups: groups
                .split(',')
                .filter(|g| !g.is_empty())
                .map(String::from)
                .collect(),
            iterations,
            salt,
            hash,
        });
    }
    Ok(users)
}

fn derive(password: &str, salt: &[u8], iterations: u32) -> [u8; HASH_BYTES] {
    let mut out = [0u8; HASH_BYTES];
    let iterations = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

/// A users-file line for `name` in `groups` with `password`.
pub fn user_line(
    name: &str,
    groups: &[String],
    password: &str,
    iterations: u32,
) -> Result<String, String> {
    if name.is_empty() || name.contains([':', '\n', '#']) {
        return Err(format!("invalid user name {name:?}"));
    }
    if groups.iter().any(|g| g.contains([':', ',', '\n'])) {
        return Err("a group name may not contain ':' ',' or a newline".into());
    }
    let salt = random_bytes(SALT_BYTES).map_err(|_| "no randomness from the system")?;
    let hash = derive(password, &salt, iterations);
    Ok(format!(
        "{name}:{}:pbkdf2-sha256:{iterations}:{}:{}",
        groups.join(","),
        hex(&salt),
        hex(&hash)
    ))
}

impl WebUser {
    /// In constant time for the hash comparison.
    pub fn verify(&self, password: &str) -> bool {
        let Some(iterations) = NonZeroU32::new(self.iterations) else {
            return false;
        };
        ring::pbkdf2::verify(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

/// The admin and read-only groups of the cluster (by name), as the node
/// configuration names them for the control socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPolicy {
    pub admin_group: Option<String>,
    pub readonly_group: Option<String>,
}

/// A group's id: the system's, else one made from the name (a web user's
/// group need not exist on this host; the same name always maps the same,
/// above any real gid).
fn gid_of(name: &str) -> u32 {
    crate::actors::access::group_gid(name)
        .unwrap_or_else(|| 0x8000_0000 | crc32fast::hash(name.as_bytes()))
}

/// What a web user in `groups` may do: the control socket's rule
/// ([`crate::actors::access::access`]) applied to a caller who is neither root nor
/// the daemon's user. A user in no configured group is refused; with no
/// group configured at all, every user may read only.
pub fn user_access(policy: &GroupPolicy, groups: &[String]) -> Access {
    let socket_policy = AccessPolicy {
        own_uid: u32::MAX - 1,
        admin_gid: policy.admin_group.as_deref().map(gid_of),
        readonly_gid: policy.readonly_group.as_deref().map(gid_of),
    };
    let caller = Caller {
        uid: u32::MAX - 2,
        gid: u32::MAX,
        pid: None,
    };
    let gids: Vec<u32> = groups.iter().map(|g| gid_of(g)).collect();
    access(&socket_policy, &caller, &gids)
}

pub fn random_bytes(n: usize) -> Result<Vec<u8>, ring::error::Unspecified> {
    let mut bytes = vec![0u8; n];
    ring::rand::SystemRandom::new().fill(&mut bytes)?;
    Ok(bytes)
}

/// A signed-in user (or, without login on loopback, the console's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub access: Access,
    /// Sent back with every action; a cross-site form cannot know it.
    pub csrf: String,
}

struct Entry {
    session: Session,
    used: Instant,
}

#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    /// A new session: `(cookie token, session)`.
    pub fn open(&self, user: &str, access: Access) -> Option<(String, Session)> {
        let token = hex(&random_bytes(32).ok()?);
        let session = Session {
            user: user.to_string(),
            access,
            csrf: hex(&random_bytes(32).ok()?),
        };
        let mut entries = self.entries.lock().ok()?;
        let idle = Duration::from_millis(SESSION_IDLE_MS);
        entries.retain(|_, e| e.used.elapsed() < idle);
        if entries.len() >= SESSIONS_MAX {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            token.clone(),
            Entry {
                session: session.clone(),
                used: Instant::now(),
            },
        );
        Some((token, session))
    }

    pub fn get(&self, token: &str) -> Option<Session> {
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.get_mut(token)?;
        if entry.used.elapsed() >= Duration::from_millis(SESSION_IDLE_MS) {
            entries.remove(token);
            return None;
        }
        entry.used = Instant::now();
        Some(entry.session.clone())
    }

    pub fn close(&self, token: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(token);
        }
    }
}

/// Standard base64 (HTTP Basic credentials; the tests' screenshots).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().take_while(|c| *c != b'=') {
        buffer = (buffer << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_line_reads_back_and_verifies_only_its_password() {
        let line = user_line("alice", &["haclient".into()], "s3cret", 10_000).unwrap();
        let users = parse_users(&format!("# users\n\n{line}\n")).unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].name, "alice");
        assert_eq!(users[0].groups, vec!["haclient".to_string()]);
        assert!(users[0].verify("s3cret"));
        assert!(!users[0].verify("s3cret "));
        assert!(!users[0].verify(""));
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        for bad in [
            "alice",
            "alice:g:md5:10000:00:00",
            "alice:g:pbkdf2-sha256:5:00:00",
            "alice:g:pbkdf2-sha256:10000:zz:00",
            "alice:g:pbkdf2-sha256:10000:00:00",
        ] {
            let error = parse_users(&format!("\n{bad}")).unwrap_err();
            assert!(matches!(error, UsersError::Line { line: 2, .. }), "{bad}");
        }
        assert!(user_line("a:b", &[], "x", 10_000).is_err());
    }

    #[test]
    fn groups_map_as_on_the_control_socket() {
        let policy = GroupPolicy {
            admin_group: Some("ha-admins-web-test".into()),
            readonly_group: Some("ha-readers-web-test".into()),
        };
        assert_eq!(
            user_access(&policy, &["ha-admins-web-test".into()]),
            Access::Admin
        );
        assert_eq!(
            user_access(&policy, &["ha-readers-web-test".into()]),
            Access::ReadOnly
        );
        assert_eq!(user_access(&policy, &["other".into()]), Access::Denied);
        assert_eq!(
            user_access(&GroupPolicy::default(), &["other".into()]),
            Access::ReadOnly
        );
    }

    #[test]
    fn base64_decodes_basic_auth() {
        assert_eq!(decode_base64("YWxpY2U6czNjcmV0").unwrap(), b"alice:s3cret");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert!(decode_base64("!!").is_none());
    }

    #[test]
    fn sessions_are_random_and_closable() {
        let sessions = Sessions::default();
        let (a, sa) = sessions.open("alice", Access::Admin).unwrap();
        let (b, _) = sessions.open("bob", Access::ReadOnly).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(sessions.get(&a), Some(sa.clone()));
        assert!(same_token(&sa.csrf, &sessions.get(&a).unwrap().csrf));
        assert!(!same_token(&sa.csrf, "x"));
        sessions.close(&a);
        assert_eq!(sessions.get(&a), None);
        assert_eq!(sessions.get(&b).unwrap().user, "bob");
    }
}
