//! The CIB on disk: written atomically (temporary file, fsync, rename, fsync
//! of the directory) with a SHA-256 digest on its first line, and checked
//! when read. A file that fails its check is moved aside, never deleted, so
//! an operator can inspect it; the caller then falls back to the previous
//! good copy or to its peers.
//!
//! The file stays a valid Pacemaker CIB: the digest is an XML comment.

use crate::model::cib_store::{self, CibVersion};
use crate::model::xml::Element;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How many earlier versions are kept beside the current one.
pub const CIB_HISTORY_KEPT: usize = 10;
/// Largest CIB file read: beyond this it is not a CIB (the XML parser's own
/// limit; the checks of every write keep a CIB to half of it).
pub const CIB_FILE_BYTES_MAX: u64 = crate::model::xml::XML_DOCUMENT_BYTES_MAX as u64;

const DIGEST_PREFIX: &str = "<!-- systole-sha256: ";
const DIGEST_SUFFIX: &str = " -->";

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: digest mismatch (file damaged); moved aside to {aside}")]
    Corrupt { path: PathBuf, aside: PathBuf },
    #[error("{path}: not a valid CIB ({reason}); moved aside to {aside}")]
    Invalid {
        path: PathBuf,
        reason: String,
        aside: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PersistError + '_ {
    move |source| PersistError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file's text: digest line, then the CIB.
pub fn encode(cib: &Element) -> String {
    let body = cib.to_xml_pretty();
    format!(
        "{DIGEST_PREFIX}{}{DIGEST_SUFFIX}\n{body}",
        sha256_hex(body.as_bytes())
    )
}

/// Parses and checks a file's text. `Err` holds the reason.
pub fn decode(text: &str) -> Result<Element, String> {
    let (first, body) = text.split_once('\n').ok_or("no digest line")?;
    let digest = first
        .strip_prefix(DIGEST_PREFIX)
        .and_then(|d| d.strip_suffix(DIGEST_SUFFIX))
        .ok_or("no digest line")?;
    if sha256_hex(body.as_bytes()) != digest {
        return Err("digest mismatch".into());
    }
    let cib = Element::parse(body).map_err(|e| e.to_string())?;
    cib_store::validate_shape(&cib).map_err(|e| e.to_string())?;
    Ok(cib)
}

/// Writes `content` to `path` atomically and durably.
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), PersistError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = path.with_extension("tmp");
    {
        let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(content).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// The CIB store of one node: `DIR/cib.xml` and `DIR/history/`.
#[derive(Debug, Clone)]
pub struct CibFiles {
    dir: PathBuf,
}

impl CibFiles {
    pub fn new(dir: &Path) -> Self {
        CibFiles {
            dir: dir.to_path_buf(),
        }
    }

    pub fn current_path(&self) -> PathBuf {
        self.dir.join("cib.xml")
    }

    fn history_dir(&self) -> PathBuf {
        self.dir.join("history")
    }

    /// Saves `cib` as current; the previous current goes to history when
    /// its configuration version differs (status-only updates are not kept).
    pub fn save(&self, cib: &Element) -> Result<(), PersistError> {
        let current = self.current_path();
        if let Ok(text) = fs::read_to_string(&current) {
            if let Ok(previous) = decode(&text) {
                let old = cib_store::version(&previous);
                let new = cib_store::version(cib);
                if (old.admin_epoch, old.epoch) != (new.admin_epoch, new.epoch) {
                    self.keep_in_history(&previous, old)?;
                }
            }
        }
        write_atomic(&current, encode(cib).as_bytes())
    }

    fn keep_in_history(&self, cib: &Element, v: CibVersion) -> Result<(), PersistError> {
        let dir = self.history_dir();
        let name = format!(
            "cib-{:06}-{:09}-{:09}.xml",
            v.admin_epoch, v.epoch, v.num_updates
        );
        write_atomic(&dir.join(name), encode(cib).as_bytes())?;
        let mut kept = self.history_files()?;
        while kept.len() > CIB_HISTORY_KEPT {
            let oldest = kept.remove(0);
            fs::remove_file(&oldest).map_err(io(&oldest))?;
        }
        Ok(())
    }

    /// History files, oldest first.
    pub fn history_files(&self) -> Result<Vec<PathBuf>, PersistError> {
        let dir = self.history_dir();
        let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "xml"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&dir)(e)),
        };
        files.sort();
        Ok(files)
    }

    /// Loads the current CIB. `Ok(None)`: there is none yet. A damaged file
    /// is moved aside and the newest good history copy is returned instead
    /// (with the error, so the caller can log it and ask peers for newer).
    pub fn load(&self) -> (Option<Element>, Option<PersistError>) {
        let current = self.current_path();
        match self.load_checked(&current) {
            Ok(found) => (found, None),
            Err(error) => {
                let fallback = self
                    .history_files()
                    .unwrap_or_default()
                    .into_iter()
                    .rev()
                    .find_map(|p| fs::read_to_string(p).ok().and_then(|t| decode(&t).ok()));
                (fallback, Some(error))
            }
        }
    }

    fn load_checked(&self, path: &Path) -> Result<Option<Element>, PersistError> {
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path)(e)),
        };
        let text = if meta.len() > CIB_FILE_BYTES_MAX {
            Err("file too large".to_string())
        } else {
            fs::read(path)
                .map_err(io(path))
                .map(|b| String::from_utf8(b).map_err(|_| "not UTF-8".to_string()))?
        };
        match text.and_then(|t| decode(&t)) {
            Ok(cib) => Ok(Some(cib)),
            Err(reason) => {
                let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
                fs::rename(path, &aside).map_err(io(path))?;
                if reason == "digest mismatch" {
                    Err(PersistError::Corrupt {
                        path: path.to_path_buf(),
                        aside,
                    })
                } else {
                    Err(PersistError::Invalid {
                        path: path.to_path_buf(),
                        reason,
                        aside,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let files = CibFiles::new(dir.path());
        assert!(files.load().0.is_none());
        let mut cib = cib_store::empty_cib();
        for _ in 0..(CIB_HISTORY_KEPT + 3) {
            cib_store::bump_epoch(&mut cib);
            files.save(&cib).unwrap();
        }
        let (loaded, error) = files.load();
        assert!(error.is_none());
        assert_eq!(loaded.unwrap(), cib);
        assert_eq!(files.history_files().unwrap().len(), CIB_HISTORY_KEPT);
    }

    #[test]
    fn damaged_file_is_moved_aside_and_history_used() {
        let dir = tempfile::tempdir().unwrap();
        let files = CibFiles::new(dir.path());
        let mut cib = cib_store::empty_cib();
        files.save(&cib).unwrap();
        cib_store::bump_epoch(&mut cib);
        files.save(&cib).unwrap();
        let path = files.current_path();
        let mut text = fs::read_to_string(&path).unwrap();
        text = text.replace("epoch=\"2\"", "epoch=\"9\"");
        fs::write(&path, text).unwrap();
        let (loaded, error) = files.load();
        assert!(
            matches!(error, Some(PersistError::Corrupt { .. })),
            "{error:?}"
        );
        assert_eq!(cib_store::version(&loaded.unwrap()).epoch, 1);
        assert!(!path.exists());
        let aside: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .collect();
        assert_eq!(aside.len(), 1);
    }

    #[test]
    fn garbage_is_rejected() {
        for text in ["", "garbage", "<!-- systole-sha256: 00 -->\n<cib/>"] {
            assert!(decode(text).is_err());
        }
        let body = "<notcib/>\n";
        let text = format!(
            "{DIGEST_PREFIX}{}{DIGEST_SUFFIX}\n{body}",
            sha256_hex(body.as_bytes())
        );
        assert!(decode(&text).unwrap_err().contains("cib"));
    }
}
