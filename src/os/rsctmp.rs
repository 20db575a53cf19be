//! Agents' state directory (`HA_RSCTMP`): what agents write there (pid and
//! state files) describes this boot only, so it must not outlive one. On a
//! real node it is `/run/systole/rsctmp`, on the tmpfs the kernel empties at
//! boot; wherever it is, the daemon also empties it when the machine has
//! booted since it was last used (the boot id it records differs), so a
//! directory on a disk behaves the same way. A daemon restarted within one
//! boot keeps it: resources it left running still need their state files.

use std::io;
use std::path::Path;

/// The kernel's id of the current boot.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";
/// Where the directory records the boot it belongs to.
pub const BOOT_STAMP: &str = ".systole-boot-id";

/// What [`prepare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// The directory belongs to this boot already: left as it was.
    Kept,
    /// It was new, or from an earlier boot and emptied.
    Fresh { entries_removed: usize },
}

/// Creates `dir` (mode 0755), emptying it when its recorded boot is not
/// `boot_id`, and records `boot_id`.
pub fn prepare_for_boot(dir: &Path, boot_id: &str) -> io::Result<Prepared> {
    std::fs::create_dir_all(dir)?;
    let stamp = dir.join(BOOT_STAMP);
    let recorded = std::fs::read_to_string(&stamp).unwrap_or_default();
    if recorded.trim() == boot_id.trim() && !boot_id.trim().is_empty() {
        return Ok(Prepared::Kept);
    }
    let mut entries_removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name() == BOOT_STAMP {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
        entries_removed += 1;
    }
    crate::os::persist::write_atomic(&stamp, boot_id.trim().as_bytes())
        .map_err(io::Error::other)?;
    Ok(Prepared::Fresh { entries_removed })
}

/// [`prepare_for_boot`] for the running boot.
pub fn prepare(dir: &Path) -> io::Result<Prepared> {
    let boot_id = std::fs::read_to_string(BOOT_ID_PATH).unwrap_or_default();
    prepare_for_boot(dir, &boot_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_of_an_earlier_boot_is_cleared_and_of_this_boot_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("rsctmp");
        assert_eq!(
            prepare_for_boot(&dir, "boot-a").unwrap(),
            Prepared::Fresh { entries_removed: 0 }
        );
        std::fs::write(dir.join("Dummy-web.state"), "").unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/pid"), "1").unwrap();
        // The daemon restarts within the same boot: nothing is lost.
        assert_eq!(prepare_for_boot(&dir, "boot-a\n").unwrap(), Prepared::Kept);
        assert!(dir.join("Dummy-web.state").exists());
        // The machine rebooted: stale state must not say resources run.
        assert_eq!(
            prepare_for_boot(&dir, "boot-b").unwrap(),
            Prepared::Fresh { entries_removed: 2 }
        );
        assert!(!dir.join("Dummy-web.state").exists() && !dir.join("sub").exists());
        assert_eq!(prepare_for_boot(&dir, "boot-b").unwrap(), Prepared::Kept);
    }

    #[test]
    fn the_running_boot_has_an_id() {
        let id = std::fs::read_to_string(BOOT_ID_PATH).unwrap();
        assert_eq!(id.trim().len(), 36, "{id}");
    }
}
