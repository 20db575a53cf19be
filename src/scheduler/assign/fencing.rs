//! Who is fenced: the unclean nodes that may be fenced, while a managed
//! resource needs protecting. Remote nodes whose connection cannot be
//! recovered are added later ([`super::remote::fence_unrecoverable`]), once
//! the actions are known.

use super::remote::can_fence;
use crate::model::cib::NodeKind;
use crate::scheduler::unpack::Working;

/// Which nodes get fenced, and why.
pub fn fencing(w: &Working) -> (Vec<bool>, Vec<String>) {
    let mut fence = vec![false; w.nodes.len()];
    let mut reason = vec![String::new(); w.nodes.len()];
    // Fencing protects managed resources: with none (maintenance mode, or
    // everything unmanaged) Pacemaker fences no one.
    let any_managed = !w.maintenance_mode && w.rscs.iter().any(|r| r.parent.is_none() && r.managed);
    if !any_managed {
        return (fence, reason);
    }
    // Without quorum only nodes still in our membership may be fenced. Guest
    // nodes are "fenced" by recovering their container instead.
    for (i, n) in w.nodes.iter().enumerate() {
        if n.unclean && can_fence(w, i) && n.kind != NodeKind::Guest {
            fence[i] = true;
            reason[i] = n.unclean_reason.clone();
        }
    }

    (fence, reason)
}
