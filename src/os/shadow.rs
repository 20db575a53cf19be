//! Shadow CIBs: a copy of the live CIB in a file, edited with the same
//! commands (`--shadow NAME`), diffed, simulated and committed.
//!
//! A shadow lives in the shadow directory as `shadow.NAME` (the whole CIB,
//! status included, so `simulate --shadow` sees the cluster as it was) with
//! `shadow.NAME.origin` beside it: the live `admin_epoch epoch` the shadow
//! was taken from, which `commit` expects the live CIB still to have.
//!
//! The directory: `$SYSTOLE_SHADOW_DIR`, else `DIR/shadow` for a local
//! cluster (`--dir DIR`), else `/var/lib/systole/shadow`.

use crate::model::cib::change::CibChange;
use crate::model::cib::store;
use crate::model::cib::xml::Element;
use crate::os::persist::write_atomic;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

pub const DEFAULT_SHADOW_DIR: &str = "/var/lib/systole/shadow";

pub fn shadow_dir(env: Option<&str>, cluster_dir: Option<&Path>) -> PathBuf {
    match (env, cluster_dir) {
        (Some(dir), _) if !dir.is_empty() => PathBuf::from(dir),
        (_, Some(dir)) => dir.join("shadow"),
        _ => PathBuf::from(DEFAULT_SHADOW_DIR),
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        bail!("invalid shadow name {name:?}: 1-64 letters, digits, '-', '_', '.'");
    }
    Ok(())
}

pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("shadow.{name}"))
}

fn origin_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("shadow.{name}.origin"))
}

/// Writes a new shadow from the live CIB; refuses to overwrite unless `force`.
pub fn create(dir: &Path, name: &str, live: &Element, force: bool) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let file = path(dir, name);
    if file.exists() && !force {
        bail!(
            "shadow {name} already exists ({}); delete it first or use --force",
            file.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let v = store::version(live);
    write_atomic(&file, live.to_xml_pretty().as_bytes())?;
    write_atomic(
        &origin_path(dir, name),
        format!("{} {}\n", v.admin_epoch, v.epoch).as_bytes(),
    )?;
    Ok(file)
}

pub fn load(dir: &Path, name: &str) -> anyhow::Result<Element> {
    check_name(name)?;
    let file = path(dir, name);
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "no shadow {name} in {} (create it with `systole cib shadow create {name}`)",
            dir.display()
        )
    })?;
    let cib = Element::parse(&text).with_context(|| format!("parsing {}", file.display()))?;
    store::validate_shape(&cib)?;
    Ok(cib)
}

pub fn save(dir: &Path, name: &str, cib: &Element) -> anyhow::Result<()> {
    check_name(name)?;
    write_atomic(&path(dir, name), cib.to_xml_pretty().as_bytes())?;
    Ok(())
}

/// Writes `cib` as shadow `name`, taken from the live version `origin`
/// (`(admin_epoch, epoch)`): its commit expects the live CIB still there.
pub fn save_with_origin(
    dir: &Path,
    name: &str,
    cib: &Element,
    origin: (u64, u64),
) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = path(dir, name);
    write_atomic(&file, cib.to_xml_pretty().as_bytes())?;
    write_atomic(
        &origin_path(dir, name),
        format!("{} {}\n", origin.0, origin.1).as_bytes(),
    )?;
    Ok(file)
}

/// The change that makes shadow `name`'s configuration live: refused
/// unless valid; unless `force`, a compare-and-swap on the live version
/// the shadow was taken from (the DC refuses it if the CIB moved since).
pub fn commit_change(dir: &Path, name: &str, force: bool) -> anyhow::Result<CibChange> {
    let shadow_cib = load(dir, name)?;
    let configuration = crate::admin::configuration_of(&shadow_cib);
    if let Err(errors) = crate::model::cib::validate::check(&configuration) {
        bail!(
            "shadow {name} is not a valid configuration; nothing committed:\n  {}",
            errors.join("\n  ")
        );
    }
    if force {
        return Ok(CibChange::ReplaceConfiguration(configuration));
    }
    let (admin_epoch, epoch) = origin(dir, name)?;
    Ok(CibChange::ReplaceConfigurationIf {
        admin_epoch,
        epoch,
        configuration,
    })
}

/// The live `(admin_epoch, epoch)` the shadow was taken from.
pub fn origin(dir: &Path, name: &str) -> anyhow::Result<(u64, u64)> {
    let file = origin_path(dir, name);
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut parts = text.split_whitespace().map(|p| p.parse::<u64>());
    match (parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(e))) => Ok((a, e)),
        _ => bail!("{} is damaged", file.display()),
    }
}

pub fn delete(dir: &Path, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let file = path(dir, name);
    if !file.exists() {
        bail!("no shadow {name} in {}", dir.display());
    }
    std::fs::remove_file(&file)?;
    let _ = std::fs::remove_file(origin_path(dir, name));
    Ok(())
}

pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter_map(|n| n.strip_prefix("shadow.").map(String::from))
        .filter(|n| !n.ends_with(".origin"))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_resolution_order() {
        assert_eq!(
            shadow_dir(Some("/x"), Some(Path::new("/c"))),
            PathBuf::from("/x")
        );
        assert_eq!(
            shadow_dir(None, Some(Path::new("/c"))),
            PathBuf::from("/c/shadow")
        );
        assert_eq!(
            shadow_dir(Some(""), None),
            PathBuf::from(DEFAULT_SHADOW_DIR)
        );
    }

    #[test]
    fn create_load_save_origin_delete() {
        let dir = tempfile::tempdir().unwrap();
        let live = store::empty_cib();
        create(dir.path(), "s1", &live, false).unwrap();
        assert!(create(dir.path(), "s1", &live, false).is_err());
        assert!(create(dir.path(), "../evil", &live, false).is_err());
        assert_eq!(origin(dir.path(), "s1").unwrap(), (0, 1));
        let mut cib = load(dir.path(), "s1").unwrap();
        assert_eq!(cib, live);
        store::bump_epoch(&mut cib);
        save(dir.path(), "s1", &cib).unwrap();
        assert_eq!(store::version(&load(dir.path(), "s1").unwrap()).epoch, 2);
        assert_eq!(list(dir.path()), vec!["s1".to_string()]);
        delete(dir.path(), "s1").unwrap();
        assert!(load(dir.path(), "s1").is_err());
        assert!(list(dir.path()).is_empty());
    }
}
