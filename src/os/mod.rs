//! What the node and its tools ask of the operating system beyond sockets
//! and agents: durable file writes ([`persist`]), shadow CIB files
//! ([`shadow`]), the agents' boot-scoped state directory ([`rsctmp`]),
//! systemd's readiness and watchdog protocol ([`sd_notify`]), and naming a
//! file's kind in refusals.

pub mod persist;
pub mod rsctmp;
pub mod sd_notify;
pub mod shadow;

/// What kind of file this is, in words.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_fifo() {
        "FIFO"
    } else if kind.is_dir() {
        "directory"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "device"
    } else if kind.is_symlink() {
        "symbolic link"
    } else {
        "regular file"
    }
}
