//! Membership views and quorum: a pure state machine of heartbeats and ticks.
//!
//! Why pure: membership decides which nodes the cluster believes alive, and
//! so who may run resources and who must be fenced. Keeping it free of
//! sockets and clocks (the caller passes `now_ms`) makes every transition
//! testable in microseconds and replayable from a trace, in the manner of
//! raft-rs. The transport's task feeds it verified heartbeats and ticks and
//! forwards the views it returns.
//!
//! A view is the set of nodes heard within `heartbeat_timeout_ms`, the local
//! node always included. Every change yields a new view with a larger id. A
//! peer that comes back with a new incarnation (it restarted) first leaves and
//! then joins, so the layers above see that its state was lost.
//!
//! Quorum: each node has one vote; a view is quorate when it holds a majority
//! of `max(expected_votes, members)`. In `two_node` mode with two expected
//! votes, one node is quorate on its own (fencing must then break ties).
//! With `wait_for_all` (as in corosync's votequorum), no view is quorate
//! until all `expected_votes` nodes have been members at the same time once:
//! two nodes booting on either side of a split do not both start resources.
//!
//! ```
//! use systole::transport::membership::Membership;
//! let mut m = Membership::new("n1", 600, 3, false);
//! assert!(!m.view().quorate);
//! let views = m.on_heartbeat("n2", 1, 0);
//! assert!(views[0].quorate && views[0].members.contains("n2"));
//! let views = m.tick(600);
//! assert!(!views[0].members.contains("n2"));
//! ```

use std::collections::{BTreeMap, BTreeSet};

/// Which nodes are members now, and whether they have quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipView {
    /// Increases with every change seen by this node.
    pub id: u64,
    pub members: BTreeSet<String>,
    pub quorate: bool,
    pub expected_votes: u32,
}

/// Whether `members` votes (one each) are a quorum.
pub fn quorate(members: usize, expected_votes: u32, two_node: bool) -> bool {
    if two_node && expected_votes == 2 {
        return members >= 1;
    }
    let expected = u64::from(expected_votes).max(members as u64).max(1);
    (members as u64) * 2 > expected
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    incarnation: u64,
    last_seen_ms: u64,
}

/// The membership state machine of one node.
#[derive(Debug, Clone)]
pub struct Membership {
    local_node: String,
    heartbeat_timeout_ms: u64,
    expected_votes: u32,
    two_node: bool,
    wait_for_all: bool,
    /// Every expected node has been a member at once (for `wait_for_all`).
    all_seen: bool,
    peers: BTreeMap<String, Peer>,
    view: MembershipView,
}

impl Membership {
    pub fn new(
        local_node: &str,
        heartbeat_timeout_ms: u64,
        expected_votes: u32,
        two_node: bool,
    ) -> Self {
        let members = BTreeSet::from([local_node.to_owned()]);
        let view = MembershipView {
            id: 1,
            quorate: quorate(1, expected_votes, two_node),
            members,
            expected_votes,
        };
        Membership {
            local_node: local_node.to_owned(),
            heartbeat_timeout_ms,
            expected_votes,
            two_node,
            wait_for_all: false,
            all_seen: expected_votes <= 1,
            peers: BTreeMap::new(),
            view,
        }
    }

    /// No quorum until every expected node has been seen at once.
    pub fn with_wait_for_all(mut self, wait_for_all: bool) -> Self {
        self.wait_for_all = wait_for_all;
        self.view.quorate = self.is_quorate(self.view.members.len());
        self
    }

    fn is_quorate(&self, members: usize) -> bool {
        (self.all_seen || !self.wait_for_all)
            && quorate(members, self.expected_votes, self.two_node)
    }

    pub fn view(&self) -> &MembershipView {
        &self.view
    }

    /// The incarnation of a current member (other than the local node).
    pub fn incarnation_of(&self, node: &str) -> Option<u64> {
        self.peers.get(node).map(|p| p.incarnation)
    }

    /// A verified heartbeat from `from`'s `incarnation` arrived at `now_ms`.
    pub fn on_heartbeat(
        &mut self,
        from: &str,
        incarnation: u64,
        now_ms: u64,
    ) -> Vec<MembershipView> {
        if from == self.local_node {
            return Vec::new();
        }
        let mut views = Vec::new();
        match self.peers.get_mut(from) {
            Some(peer) if peer.incarnation == incarnation => {
                peer.last_seen_ms = peer.last_seen_ms.max(now_ms);
                return views;
            }
            Some(peer) if peer.incarnation > incarnation => return views,
            Some(_) => {
                // Restarted: its old self leaves before its new self joins.
                self.peers.remove(from);
                views.push(self.next_view());
            }
            None => {}
        }
        self.peers.insert(
            from.to_owned(),
            Peer {
                incarnation,
                last_seen_ms: now_ms,
            },
        );
        views.push(self.next_view());
        views
    }

    /// `from` said goodbye: it leaves now rather than at its timeout.
    pub fn on_goodbye(&mut self, from: &str, incarnation: u64) -> Vec<MembershipView> {
        match self.peers.get(from) {
            Some(peer) if peer.incarnation == incarnation => self.remove(from),
            _ => Vec::new(),
        }
    }

    /// Removes `node` from the view (it timed out, left, or its link failed).
    pub fn remove(&mut self, node: &str) -> Vec<MembershipView> {
        if self.peers.remove(node).is_some() {
            vec![self.next_view()]
        } else {
            Vec::new()
        }
    }

    /// `node` lost state we cannot recover (its stream to us restarted):
    /// it leaves and joins again, so the layers above resynchronise.
    pub fn bounce(&mut self, node: &str) -> Vec<MembershipView> {
        let Some(peer) = self.peers.remove(node) else {
            return Vec::new();
        };
        let leave = self.next_view();
        self.peers.insert(node.to_owned(), peer);
        vec![leave, self.next_view()]
    }

    /// When the first peer times out unless heard again (ms).
    pub fn next_expiry_ms(&self) -> Option<u64> {
        let last_seen_ms = self.peers.values().map(|p| p.last_seen_ms).min()?;
        Some(last_seen_ms + self.heartbeat_timeout_ms)
    }

    /// Time passes: peers not heard for `heartbeat_timeout_ms` leave.
    pub fn tick(&mut self, now_ms: u64) -> Vec<MembershipView> {
        let timeout_ms = self.heartbeat_timeout_ms;
        let before = self.peers.len();
        self.peers
            .retain(|_, peer| now_ms.saturating_sub(peer.last_seen_ms) < timeout_ms);
        if self.peers.len() == before {
            Vec::new()
        } else {
            vec![self.next_view()]
        }
    }

    fn next_view(&mut self) -> MembershipView {
        let mut members: BTreeSet<String> = self.peers.keys().cloned().collect();
        members.insert(self.local_node.clone());
        if members.len() as u64 >= u64::from(self.expected_votes) {
            self.all_seen = true;
        }
        self.view = MembershipView {
            id: self.view.id + 1,
            quorate: self.is_quorate(members.len()),
            members,
            expected_votes: self.expected_votes,
        };
        self.view.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(view: &MembershipView) -> Vec<&str> {
        view.members.iter().map(String::as_str).collect()
    }

    #[test]
    fn join_and_repeated_heartbeats() {
        let mut m = Membership::new("n1", 600, 3, false);
        assert_eq!(m.view().id, 1);
        assert_eq!(names(m.view()), ["n1"]);
        let views = m.on_heartbeat("n2", 7, 0);
        assert_eq!(views.len(), 1);
        assert_eq!(names(&views[0]), ["n1", "n2"]);
        assert_eq!(views[0].id, 2);
        assert!(m.on_heartbeat("n2", 7, 100).is_empty());
        assert!(
            m.on_heartbeat("n1", 1, 100).is_empty(),
            "own heartbeats ignored"
        );
        assert_eq!(m.incarnation_of("n2"), Some(7));
    }

    #[test]
    fn leave_on_timeout() {
        let mut m = Membership::new("n1", 600, 3, false);
        m.on_heartbeat("n2", 7, 0);
        m.on_heartbeat("n3", 8, 0);
        assert!(m.tick(500).is_empty());
        m.on_heartbeat("n3", 8, 500);
        assert!(m.tick(599).is_empty());
        let views = m.tick(600);
        assert_eq!(names(&views[0]), ["n1", "n3"]);
        assert!(views[0].quorate, "2 of 3");
        let views = m.tick(1100);
        assert_eq!(names(&views[0]), ["n1"]);
        assert!(!views[0].quorate, "1 of 3");
        assert!(m.tick(5000).is_empty());
    }

    #[test]
    fn restart_is_leave_then_join() {
        let mut m = Membership::new("n1", 600, 2, false);
        m.on_heartbeat("n2", 7, 0);
        let views = m.on_heartbeat("n2", 9, 10);
        assert_eq!(views.len(), 2);
        assert_eq!(names(&views[0]), ["n1"]);
        assert_eq!(names(&views[1]), ["n1", "n2"]);
        assert_eq!(m.incarnation_of("n2"), Some(9));
        assert!(
            m.on_heartbeat("n2", 7, 20).is_empty(),
            "old incarnation ignored"
        );
        assert_eq!(m.incarnation_of("n2"), Some(9));
    }

    #[test]
    fn goodbye_bounce_and_remove() {
        let mut m = Membership::new("n1", 600, 3, false);
        m.on_heartbeat("n2", 7, 0);
        assert!(m.on_goodbye("n2", 6).is_empty(), "goodbye of an older self");
        let views = m.bounce("n2");
        assert_eq!(views.len(), 2);
        assert_eq!(names(&views[0]), ["n1"]);
        assert_eq!(names(&views[1]), ["n1", "n2"]);
        assert_eq!(names(&m.on_goodbye("n2", 7)[0]), ["n1"]);
        assert!(m.remove("n2").is_empty());
        assert!(m.bounce("n2").is_empty());
    }

    #[test]
    fn view_ids_strictly_increase() {
        let mut m = Membership::new("n1", 100, 5, false);
        let mut last = m.view().id;
        let mut now = 0;
        for round in 0..50u64 {
            now += 37;
            let mut views = m.on_heartbeat(&format!("n{}", round % 7), round / 10, now);
            views.extend(m.tick(now));
            if round % 5 == 0 {
                views.extend(m.bounce("n3"));
            }
            for view in views {
                assert!(view.id > last);
                last = view.id;
            }
        }
        assert_eq!(m.view().id, last);
    }

    #[test]
    fn quorum_majority() {
        assert!(quorate(1, 1, false));
        assert!(!quorate(1, 2, false));
        assert!(quorate(2, 2, false));
        assert!(!quorate(1, 3, false));
        assert!(quorate(2, 3, false));
        assert!(!quorate(2, 4, false));
        assert!(quorate(3, 4, false));
        assert!(quorate(3, 5, false));
        assert!(quorate(1, 0, false), "no expected votes: a lone node");
        assert!(
            quorate(4, 3, false),
            "more members than expected raise expected"
        );
        assert!(!quorate(2, 3 + 3, false));
    }

    #[test]
    fn quorum_two_node() {
        assert!(quorate(1, 2, true));
        assert!(quorate(2, 2, true));
        assert!(!quorate(1, 2, false));
        assert!(
            !quorate(1, 3, true),
            "two_node only means something with 2 votes"
        );
        let mut m = Membership::new("n1", 600, 2, true);
        assert!(m.view().quorate);
        m.on_heartbeat("n2", 1, 0);
        assert!(m.tick(600)[0].quorate);
    }

    #[test]
    fn wait_for_all_holds_quorum_until_everyone_was_seen() {
        let mut m = Membership::new("n1", 600, 2, true).with_wait_for_all(true);
        assert!(!m.view().quorate, "alone at boot: not quorate");
        assert!(m.on_heartbeat("n2", 1, 0)[0].quorate);
        let views = m.tick(600);
        assert!(views[0].quorate, "two_node: the survivor keeps quorum");
        let mut m = Membership::new("n1", 600, 3, false).with_wait_for_all(true);
        assert!(
            !m.on_heartbeat("n2", 1, 0)[0].quorate,
            "2 of 3, but n3 never seen"
        );
        assert!(m.on_heartbeat("n3", 1, 0)[0].quorate);
        assert!(m.remove("n3")[0].quorate, "2 of 3 after all were seen");
    }
}
