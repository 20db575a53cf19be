//! Raised scheduling priority and locked memory for failure detection.
//!
//! Why: a busy node is not a dead node. The transport's thread sends and
//! judges heartbeats; if it waits for a CPU behind agents, builds or busy
//! loops, or for a page to come back from swap, healthy peers are dropped
//! (or drop us). Corosync runs SCHED_RR with its memory locked; so does the
//! transport thread when the daemon asks for it. Both are best effort: where
//! the kernel refuses (no CAP_SYS_NICE / CAP_IPC_LOCK, a container), the
//! refusal is logged once and the node runs on at normal priority.

use std::sync::Once;

/// Real-time priority of the transport thread: mid-range, above any normal
/// process, below the kernel's own real-time threads (watchdog, migration).
const TRANSPORT_RR_PRIORITY: libc::c_int = 50;

/// Nice value of the transport thread when SCHED_RR is refused (containers
/// often have no real-time budget but may still raise a thread's weight).
const TRANSPORT_FALLBACK_NICE: libc::c_int = -10;

/// Puts the calling thread in SCHED_RR at [`TRANSPORT_RR_PRIORITY`], else
/// at nice [`TRANSPORT_FALLBACK_NICE`]. Returns whether SCHED_RR was granted.
pub fn raise_thread_priority(node: &str) -> bool {
    raise_priority(node, "transport", TRANSPORT_RR_PRIORITY)
}

/// Real-time priority of the consensus thread: below the transport's, so
/// a long apply never holds up a heartbeat.
const CONSENSUS_RR_PRIORITY: libc::c_int = 40;

/// The consensus thread (`actors::raft_thread`) at [`CONSENSUS_RR_PRIORITY`],
/// as [`raise_thread_priority`] does for the transport's.
pub fn raise_consensus_thread_priority(node: &str) -> bool {
    raise_priority(node, "consensus", CONSENSUS_RR_PRIORITY)
}

fn raise_priority(node: &str, thread: &str, rr_priority: libc::c_int) -> bool {
    let max = unsafe { libc::sched_get_priority_max(libc::SCHED_RR) };
    let param = libc::sched_param {
        sched_priority: rr_priority.min(max.max(1)),
    };
    // pid 0: the calling thread (Linux schedules threads, not processes).
    let result = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &param) };
    if result == 0 {
        tracing::info!(
            node,
            thread,
            priority = param.sched_priority,
            "thread runs SCHED_RR"
        );
        true
    } else {
        let error = std::io::Error::last_os_error();
        // Linux: nice applies per thread, named by its thread id.
        let tid = unsafe { libc::gettid() } as libc::id_t;
        let niced =
            unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, TRANSPORT_FALLBACK_NICE) } == 0;
        if niced {
            tracing::warn!(node, thread, %error, nice = TRANSPORT_FALLBACK_NICE, "SCHED_RR refused; thread runs at raised nice priority");
        } else {
            tracing::warn!(node, thread, %error, "thread stays at normal priority: SCHED_RR refused");
        }
        false
    }
}

/// Locks the process's memory (once per process): pages already in and
/// pages faulted in later stay in RAM. `MCL_ONFAULT` locks pages as they are
/// touched rather than populating every mapping at once, so thread stacks
/// and arenas cost what they use, not what they reserve.
pub fn lock_memory() {
    static LOCKED: Once = Once::new();
    LOCKED.call_once(|| {
        let flags = libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT;
        if !may_lock_unbounded() {
            tracing::warn!(
                "memory not locked: without CAP_IPC_LOCK, RLIMIT_MEMLOCK would make allocations fail"
            );
            return;
        }
        if unsafe { libc::mlockall(flags) } == 0 {
            tracing::info!("memory locked (mlockall)");
        } else {
            let error = std::io::Error::last_os_error();
            tracing::warn!(%error, "memory not locked: mlockall refused");
        }
    });
}

/// Whether locking all future memory is safe: with MCL_FUTURE, a process
/// without CAP_IPC_LOCK fails every allocation beyond RLIMIT_MEMLOCK.
fn may_lock_unbounded() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } == 0
        && limit.rlim_cur == libc::RLIM_INFINITY
    {
        return true;
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}
