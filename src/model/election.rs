//! DC election as a pure state machine: membership views, join messages and
//! ticks in; messages to send and decisions out.
//!
//! Rules, chosen so every node reaches the same answer from the same view:
//! - While the current DC is a member, it stays DC; on every view change it
//!   runs a new join round (a new term) so newcomers learn of it and report
//!   what they run.
//! - With no live DC, only the lowest-named member stands.
//! - A candidate asks every member to join term `t`; a member joins a term
//!   higher than any it has seen and refuses others (`StaleTerm`). A
//!   candidate that is refused retries with a higher term only if it is
//!   still entitled to stand; otherwise it stands down.
//! - Once every member answered, or at the join timeout with a majority of
//!   the members it asked, the candidate is DC for `t` and announces it.
//!   Each node joins a term at most once, so two candidates never win the
//!   same term. Every DC command carries its term and a
//!   node refuses terms lower than the highest it has seen: a stale DC's
//!   commands are fenced off.

use std::collections::{BTreeMap, BTreeSet};

/// How long a candidate waits for join answers before it proceeds with
/// those that answered (the others are presumed gone; the next view change
/// will say).
pub const JOIN_TIMEOUT_MS: u64 = 1_000;

/// How often a DC repeats its announcement: a member that missed it (a lost
/// message, a view that lagged) learns the DC from the next one, and a stale
/// DC hears of a newer term from the refusals.
pub const ANNOUNCE_INTERVAL_MS: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Ask these nodes (self included) to join `term`.
    SendJoinRequest {
        to: Vec<String>,
        term: u64,
    },
    /// Answer a join request.
    SendJoinAck {
        to: String,
        term: u64,
    },
    SendStaleTerm {
        to: String,
        term_seen: u64,
    },
    /// This node is DC for `term` now; `joined` answered the join.
    BecameDc {
        term: u64,
        joined: Vec<String>,
    },
    /// Announce the win to these nodes.
    SendAnnounce {
        to: Vec<String>,
        term: u64,
    },
    /// The DC this node follows changed (None: there is none).
    DcChanged {
        dc: Option<String>,
        term: u64,
    },
}

#[derive(Debug, Clone)]
struct Candidacy {
    term: u64,
    waiting: BTreeSet<String>,
    joined: BTreeSet<String>,
    /// When the candidacy's first tick came: the join timeout runs from
    /// there, as message handlers do not know the time.
    started_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Election {
    me: String,
    term_seen: u64,
    dc: Option<String>,
    dc_term: u64,
    members: BTreeSet<String>,
    candidacy: Option<Candidacy>,
    now_ms: u64,
    last_announce_ms: u64,
}

impl Election {
    /// `term_seen` comes from disk, so a restarted node still refuses terms
    /// it had already seen superseded.
    pub fn new(me: &str, term_seen: u64) -> Self {
        Election {
            me: me.to_string(),
            term_seen,
            dc: None,
            dc_term: 0,
            members: BTreeSet::new(),
            candidacy: None,
            now_ms: 0,
            last_announce_ms: 0,
        }
    }

    /// Picks up where a crashed election actor left off: the DC it followed
    /// and the current members, without starting a new round.
    pub fn resume(
        me: &str,
        term_seen: u64,
        dc: Option<String>,
        dc_term: u64,
        members: &[String],
    ) -> Self {
        let mut election = Election::new(me, term_seen);
        election.dc = dc;
        election.dc_term = dc_term;
        election.members = members.iter().cloned().collect();
        election
    }

    pub fn dc(&self) -> Option<&str> {
        self.dc.as_deref()
    }

    pub fn is_dc(&self) -> bool {
        self.dc.as_deref() == Some(self.me.as_str())
    }

    pub fn term(&self) -> u64 {
        self.dc_term
    }

    pub fn term_seen(&self) -> u64 {
        self.term_seen
    }

    pub fn is_candidate(&self) -> bool {
        self.candidacy.is_some()
    }

    /// Whether a DC command with `term` from `from` must be obeyed.
    pub fn accepts_command(&self, from: &str, term: u64) -> bool {
        term >= self.term_seen && self.dc.as_deref() == Some(from) && term == self.dc_term
    }

    fn entitled_to_stand(&self) -> bool {
        if self.dc.as_deref() == Some(self.me.as_str()) {
            return true;
        }
        let dc_alive = self.dc.as_ref().is_some_and(|d| self.members.contains(d));
        !dc_alive && self.members.iter().next() == Some(&self.me)
    }

    fn stand(&mut self, effects: &mut Vec<Effect>) {
        // A DC running a new join round is not DC until it wins again: at
        // most one node of a membership ever claims the role.
        if self.is_dc() {
            self.set_dc(None, self.dc_term, effects);
        }
        let term = self.term_seen + 1;
        self.term_seen = term;
        self.candidacy = Some(Candidacy {
            term,
            waiting: self.members.clone(),
            joined: BTreeSet::new(),
            started_ms: None,
        });
        effects.push(Effect::SendJoinRequest {
            to: self.members.iter().cloned().collect(),
            term,
        });
    }

    fn set_dc(&mut self, dc: Option<String>, term: u64, effects: &mut Vec<Effect>) {
        if self.dc != dc || self.dc_term != term {
            self.dc = dc.clone();
            self.dc_term = term;
            effects.push(Effect::DcChanged { dc, term });
        }
    }

    /// A new membership view (this node is always in it).
    pub fn on_view(&mut self, members: &[String], now_ms: u64) -> Vec<Effect> {
        self.now_ms = now_ms;
        self.members = members.iter().cloned().collect();
        self.members.insert(self.me.clone());
        let mut effects = Vec::new();
        if let Some(dc) = self.dc.clone() {
            if !self.members.contains(&dc) {
                self.set_dc(None, self.dc_term, &mut effects);
            }
        }
        if self.entitled_to_stand() {
            self.stand(&mut effects);
        } else {
            self.candidacy = None;
        }
        effects
    }

    pub fn on_join_request(&mut self, from: &str, term: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        let own = from == self.me && self.candidacy.as_ref().is_some_and(|c| c.term == term);
        if term > self.term_seen || own {
            self.term_seen = self.term_seen.max(term);
            if !own {
                self.candidacy = None;
                if self.is_dc() {
                    // We promised to join a newer term: our own is over.
                    self.set_dc(None, self.dc_term, &mut effects);
                }
            }
            effects.push(Effect::SendJoinAck {
                to: from.to_string(),
                term,
            });
        } else if from != self.me {
            // (Our own request of a round we already left needs no answer.)
            effects.push(Effect::SendStaleTerm {
                to: from.to_string(),
                term_seen: self.term_seen,
            });
        }
        effects
    }

    pub fn on_join_ack(&mut self, from: &str, term: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(candidacy) = self.candidacy.as_mut() else {
            return effects;
        };
        if candidacy.term != term {
            return effects;
        }
        candidacy.waiting.remove(from);
        candidacy.joined.insert(from.to_string());
        if candidacy.waiting.is_empty() {
            self.win(&mut effects);
        }
        effects
    }

    /// A node refused our join request or announcement: it has seen
    /// `term_seen`. Only a refusal at or above our own term beats us; an
    /// older one answers a round we have already left behind.
    pub fn on_stale_term(&mut self, term_seen: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        let our_term = match &self.candidacy {
            Some(candidacy) => candidacy.term,
            None if self.is_dc() => self.dc_term,
            None => return effects,
        };
        let beaten = if self.candidacy.is_some() {
            term_seen >= our_term
        } else {
            term_seen > our_term
        };
        if !beaten {
            return effects;
        }
        self.term_seen = self.term_seen.max(term_seen);
        self.candidacy = None;
        if self.is_dc() {
            // Someone follows a newer DC: this one is stale.
            self.set_dc(None, self.dc_term, &mut effects);
        }
        if self.entitled_to_stand() {
            self.stand(&mut effects);
        }
        effects
    }

    pub fn on_announce(&mut self, from: &str, term: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        if term < self.term_seen {
            effects.push(Effect::SendStaleTerm {
                to: from.to_string(),
                term_seen: self.term_seen,
            });
            return effects;
        }
        self.term_seen = term;
        if from != self.me {
            self.candidacy = None;
            // Our join answer may have been lost (views are not symmetric
            // for a moment): answer again so the DC learns our state.
            effects.push(Effect::SendJoinAck {
                to: from.to_string(),
                term,
            });
        }
        self.set_dc(Some(from.to_string()), term, &mut effects);
        effects
    }

    pub fn tick(&mut self, now_ms: u64) -> Vec<Effect> {
        self.now_ms = now_ms;
        let mut effects = Vec::new();
        if let Some(candidacy) = self.candidacy.as_mut() {
            candidacy.started_ms.get_or_insert(now_ms);
        }
        if self.is_dc()
            && self.candidacy.is_none()
            && now_ms.saturating_sub(self.last_announce_ms) >= ANNOUNCE_INTERVAL_MS
        {
            self.last_announce_ms = now_ms;
            effects.push(Effect::SendAnnounce {
                to: self
                    .members
                    .iter()
                    .filter(|m| **m != self.me)
                    .cloned()
                    .collect(),
                term: self.dc_term,
            });
        }
        let timed_out = self
            .candidacy
            .as_ref()
            .and_then(|c| c.started_ms)
            .is_some_and(|started| now_ms.saturating_sub(started) >= JOIN_TIMEOUT_MS);
        // Nobody leads and nobody stands (the messages that would have
        // prompted us were lost): the entitled node stands again.
        let leaderless = self.dc.as_ref().is_none_or(|dc| !self.members.contains(dc));
        if self.candidacy.is_none()
            && leaderless
            && !self.members.is_empty()
            && self.entitled_to_stand()
        {
            self.stand(&mut effects);
            return effects;
        }
        if timed_out {
            // A majority of the members it asked: each node joins a term at
            // most once, so two candidates cannot both win one term.
            let majority = self.candidacy.as_ref().is_some_and(|c| {
                c.joined.contains(&self.me) && c.joined.len() * 2 > c.joined.len() + c.waiting.len()
            });
            if majority {
                self.win(&mut effects);
            } else {
                self.candidacy = None;
                if self.entitled_to_stand() {
                    self.stand(&mut effects);
                }
            }
        }
        effects
    }

    /// Hands this machine a message another one sent (`effect` as routed
    /// from `from`); effects that are not messages are ignored.
    pub fn deliver(&mut self, from: &str, effect: Effect) -> Vec<Effect> {
        match effect {
            Effect::SendJoinRequest { term, .. } => self.on_join_request(from, term),
            Effect::SendJoinAck { term, .. } => self.on_join_ack(from, term),
            Effect::SendStaleTerm { term_seen, .. } => self.on_stale_term(term_seen),
            Effect::SendAnnounce { term, .. } => self.on_announce(from, term),
            _ => Vec::new(),
        }
    }

    fn win(&mut self, effects: &mut Vec<Effect>) {
        let Some(candidacy) = self.candidacy.take() else {
            return;
        };
        let joined: Vec<String> = candidacy.joined.into_iter().collect();
        effects.push(Effect::BecameDc {
            term: candidacy.term,
            joined: joined.clone(),
        });
        effects.push(Effect::SendAnnounce {
            to: self.members.iter().cloned().collect(),
            term: candidacy.term,
        });
        self.set_dc(Some(self.me.clone()), candidacy.term, effects);
    }
}

/// Runs a set of election machines to quiescence, delivering every message
/// at once: the model check used by tests and by the simulation.
pub fn settle(nodes: &mut BTreeMap<String, Election>, inbox: Vec<(String, String, Effect)>) {
    settle_in_order(nodes, inbox, None)
}

/// As [`settle`], but messages are delivered in an order drawn from `seed`
/// (a tiny xorshift: no randomness crate in the core).
pub fn settle_in_order(
    nodes: &mut BTreeMap<String, Election>,
    mut inbox: Vec<(String, String, Effect)>,
    seed: Option<u64>,
) {
    let mut state = seed.unwrap_or(0) | 1;
    let mut steps = 0;
    loop {
        if inbox.is_empty() {
            break;
        }
        let index = match seed {
            Some(_) => {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % inbox.len() as u64) as usize
            }
            None => inbox.len() - 1,
        };
        let (from, to, effect) = inbox.remove(index);
        steps += 1;
        assert!(steps < 100_000, "election did not settle");
        let Some(node) = nodes.get_mut(&to) else {
            continue;
        };
        let out = node.deliver(&from, effect);
        route(&to, out, &mut inbox);
    }
}

/// Turns a node's effects into (from, to, message) deliveries.
pub fn route(from: &str, effects: Vec<Effect>, inbox: &mut Vec<(String, String, Effect)>) {
    for effect in effects {
        let targets: Vec<String> = match &effect {
            Effect::SendJoinRequest { to, .. } | Effect::SendAnnounce { to, .. } => to.clone(),
            Effect::SendJoinAck { to, .. } | Effect::SendStaleTerm { to, .. } => vec![to.clone()],
            _ => Vec::new(),
        };
        for to in targets {
            inbox.insert(0, (from.to_string(), to, effect.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(names: &[&str]) -> BTreeMap<String, Election> {
        names
            .iter()
            .map(|n| (n.to_string(), Election::new(n, 0)))
            .collect()
    }

    fn view(nodes: &mut BTreeMap<String, Election>, members: &[&str], now_ms: u64) {
        let members: Vec<String> = members.iter().map(|m| m.to_string()).collect();
        let mut inbox = Vec::new();
        for m in &members {
            let out = nodes.get_mut(m).unwrap().on_view(&members, now_ms);
            route(m, out, &mut inbox);
        }
        settle(nodes, inbox);
    }

    fn dcs(nodes: &BTreeMap<String, Election>, members: &[&str]) -> BTreeSet<Option<String>> {
        members
            .iter()
            .map(|m| nodes[*m].dc().map(str::to_string))
            .collect()
    }

    #[test]
    fn lowest_name_wins_and_everyone_agrees() {
        let mut nodes = cluster(&["n1", "n2", "n3"]);
        view(&mut nodes, &["n1", "n2", "n3"], 0);
        assert_eq!(
            dcs(&nodes, &["n1", "n2", "n3"]),
            [Some("n1".to_string())].into()
        );
        let term = nodes["n1"].term();
        assert!(nodes["n2"].accepts_command("n1", term));
        assert!(!nodes["n2"].accepts_command("n1", term - 1));
        assert!(!nodes["n2"].accepts_command("n3", term));
    }

    #[test]
    fn dc_loss_elects_next_and_old_term_is_refused() {
        let mut nodes = cluster(&["n1", "n2", "n3"]);
        view(&mut nodes, &["n1", "n2", "n3"], 0);
        let old_term = nodes["n1"].term();
        view(&mut nodes, &["n2", "n3"], 100);
        assert_eq!(dcs(&nodes, &["n2", "n3"]), [Some("n2".to_string())].into());
        assert!(nodes["n2"].term() > old_term);
        assert!(!nodes["n3"].accepts_command("n1", old_term));
        // The old DC comes back: the current DC keeps its role.
        nodes.insert("n1".into(), Election::new("n1", old_term));
        view(&mut nodes, &["n1", "n2", "n3"], 200);
        assert_eq!(
            dcs(&nodes, &["n1", "n2", "n3"]),
            [Some("n2".to_string())].into()
        );
    }

    #[test]
    fn partitions_merge_into_one_dc() {
        let mut nodes = cluster(&["a", "b", "c", "d"]);
        view(&mut nodes, &["a", "b"], 0);
        view(&mut nodes, &["c", "d"], 0);
        assert_eq!(nodes["a"].dc(), Some("a"));
        assert_eq!(nodes["c"].dc(), Some("c"));
        view(&mut nodes, &["a", "b", "c", "d"], 100);
        assert_eq!(dcs(&nodes, &["a", "b", "c", "d"]).len(), 1);
    }

    #[test]
    fn join_timeout_proceeds_with_a_majority_of_those_asked() {
        let members: Vec<String> = ["n1", "n2", "n3"].iter().map(|m| m.to_string()).collect();
        let mut n1 = Election::new("n1", 0);
        let out = n1.on_view(&members, 0);
        assert!(matches!(&out[0], Effect::SendJoinRequest { term: 1, .. }));
        let ack = n1.on_join_request("n1", 1);
        assert_eq!(
            ack,
            vec![Effect::SendJoinAck {
                to: "n1".into(),
                term: 1
            }]
        );
        assert!(n1.on_join_ack("n1", 1).is_empty());
        // The timeout runs from the candidacy's first tick.
        assert!(n1.tick(500).is_empty());
        // Alone of three at the timeout: no majority, so it stands again.
        let out = n1.tick(500 + JOIN_TIMEOUT_MS);
        assert!(
            matches!(&out[0], Effect::SendJoinRequest { term: 2, .. }),
            "{out:?}"
        );
        n1.on_join_request("n1", 2);
        n1.on_join_ack("n1", 2);
        n1.on_join_ack("n2", 2);
        n1.tick(2_000);
        let out = n1.tick(2_000 + JOIN_TIMEOUT_MS);
        assert!(
            out.contains(&Effect::BecameDc {
                term: 2,
                joined: vec!["n1".into(), "n2".into()]
            }),
            "{out:?}"
        );
        assert!(n1.is_dc());
    }

    #[test]
    fn a_late_refusal_of_an_older_round_does_not_end_the_current_one() {
        let mut n1 = Election::new("n1", 0);
        n1.on_view(&["n1".into(), "n2".into()], 0);
        n1.on_stale_term(0);
        // Our candidacy for term 1 stands: a refusal at term 0 is old news.
        assert!(n1.is_candidate());
        let out = n1.on_stale_term(1);
        assert!(
            matches!(&out[0], Effect::SendJoinRequest { term: 2, .. }),
            "{out:?}"
        );
    }

    #[test]
    fn our_own_request_of_an_older_round_is_not_a_refusal() {
        let mut n1 = Election::new("n1", 0);
        n1.on_view(&["n1".into(), "n2".into()], 0);
        n1.on_stale_term(1);
        assert!(n1.on_join_request("n1", 1).is_empty());
        assert!(n1.is_candidate());
    }

    #[test]
    fn three_lone_dcs_merge_without_a_term_storm() {
        let mut nodes = cluster(&["n1", "n2", "n3"]);
        for n in ["n1", "n2", "n3"] {
            view(&mut nodes, &[n], 0);
            assert_eq!(nodes[n].dc(), Some(n));
        }
        view(&mut nodes, &["n1", "n2", "n3"], 100);
        assert_eq!(dcs(&nodes, &["n1", "n2", "n3"]).len(), 1);
        assert!(
            nodes["n1"].term_seen() < 10,
            "terms ran away: {}",
            nodes["n1"].term_seen()
        );
    }

    #[test]
    fn a_dc_that_joins_a_newer_term_stands_down() {
        let members = ["n1".to_string(), "n2".to_string()];
        let mut n1 = Election::resume("n1", 1, Some("n1".into()), 1, &members);
        let out = n1.on_join_request("n2", 5);
        assert!(
            out.contains(&Effect::DcChanged { dc: None, term: 1 }),
            "{out:?}"
        );
        assert!(!n1.is_dc());
        let out = n1.on_announce("n2", 5);
        assert!(out.contains(&Effect::DcChanged {
            dc: Some("n2".into()),
            term: 5
        }));
        assert!(n1.tick(10).is_empty());
    }

    #[test]
    fn a_leaderless_entitled_node_stands_on_its_own_tick() {
        let members = ["n1".to_string(), "n2".to_string()];
        let mut n1 = Election::resume("n1", 4, None, 4, &members);
        let out = n1.tick(10);
        assert!(
            matches!(&out[0], Effect::SendJoinRequest { term: 5, .. }),
            "{out:?}"
        );
        let mut n2 = Election::resume("n2", 4, None, 4, &members);
        assert!(n2.tick(10).is_empty());
    }

    #[test]
    fn an_announce_is_answered_with_a_join_in_case_ours_was_lost() {
        let mut n2 = Election::new("n2", 0);
        let out = n2.on_announce("n1", 3);
        assert!(out.contains(&Effect::SendJoinAck {
            to: "n1".into(),
            term: 3
        }));
    }

    #[test]
    fn the_dc_repeats_its_announcement() {
        let members = ["n1".to_string(), "n2".to_string()];
        let mut n1 = Election::resume("n1", 3, Some("n1".into()), 3, &members);
        let out = n1.tick(ANNOUNCE_INTERVAL_MS);
        assert_eq!(
            out,
            vec![Effect::SendAnnounce {
                to: vec!["n2".into()],
                term: 3
            }]
        );
        assert!(n1.tick(ANNOUNCE_INTERVAL_MS + 10).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_delivery_order_ends_with_one_dc_and_few_terms(seed in 1u64..u64::MAX) {
            let names = ["n1", "n2", "n3", "n4"];
            let mut nodes = cluster(&names);
            let mut inbox = Vec::new();
            for n in names {
                let out = nodes.get_mut(n).unwrap().on_view(&[n.to_string()], 0);
                route(n, out, &mut inbox);
            }
            settle_in_order(&mut nodes, inbox, Some(seed));
            let all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let mut inbox = Vec::new();
            for n in names {
                let out = nodes.get_mut(n).unwrap().on_view(&all, 100);
                route(n, out, &mut inbox);
            }
            settle_in_order(&mut nodes, inbox, Some(seed));
            proptest::prop_assert_eq!(dcs(&nodes, &names).len(), 1);
            proptest::prop_assert!(dcs(&nodes, &names).iter().next().unwrap().is_some());
            proptest::prop_assert!(nodes["n1"].term_seen() < 20, "{:#?}", nodes);
        }
    }

    /// Delivers with loss: each message is dropped when the seeded
    /// generator says so; ticks (a second apart) let the machines recover.
    fn settle_lossy(
        nodes: &mut BTreeMap<String, Election>,
        inbox: Vec<(String, String, Effect)>,
        seed: u64,
        start_ms: u64,
        rounds: u64,
    ) {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut inbox: Vec<_> = inbox.into_iter().filter(|_| next() % 5 != 0).collect();
        for round in 1..=rounds {
            let mut delivered = Vec::new();
            while !inbox.is_empty() {
                let (from, to, effect) = inbox.remove((next() % inbox.len() as u64) as usize);
                let node = nodes.get_mut(&to).unwrap();
                let out = node.deliver(&from, effect);
                let mut routed = Vec::new();
                route(&to, out, &mut routed);
                // Losses stop after a few rounds, as a network heals.
                delivered.extend(routed.into_iter().filter(|_| round > 3 || next() % 5 != 0));
            }
            let names: Vec<String> = nodes.keys().cloned().collect();
            for name in names {
                let out = nodes.get_mut(&name).unwrap().tick(start_ms + round * 1_000);
                route(&name, out, &mut delivered);
            }
            inbox = delivered;
        }
    }

    proptest::proptest! {
        #[test]
        fn lossy_delivery_still_ends_with_one_dc(seed in 1u64..u64::MAX) {
            let names = ["n1", "n2", "n3"];
            let mut nodes = cluster(&names);
            let mut inbox = Vec::new();
            for n in names {
                let out = nodes.get_mut(n).unwrap().on_view(&[n.to_string()], 0);
                route(n, out, &mut inbox);
            }
            settle_lossy(&mut nodes, inbox, seed, 0, 3);
            let all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let mut inbox = Vec::new();
            for n in names {
                let out = nodes.get_mut(n).unwrap().on_view(&all, 3_500);
                route(n, out, &mut inbox);
            }
            settle_lossy(&mut nodes, inbox, seed.rotate_left(17), 3_500, 12);
            let dcs = dcs(&nodes, &names);
            proptest::prop_assert_eq!(dcs.len(), 1, "{:?} {:#?}", dcs, nodes);
            proptest::prop_assert!(dcs.iter().next().unwrap().is_some(), "{:#?}", nodes);
            let dc = dcs.iter().next().unwrap().clone().unwrap();
            let term = nodes[&dc].term();
            for n in names {
                proptest::prop_assert!(nodes[n].accepts_command(&dc, term));
            }
        }
    }

    #[test]
    fn stale_announce_is_refused() {
        let mut n2 = Election::new("n2", 5);
        let out = n2.on_announce("n1", 3);
        assert_eq!(
            out,
            vec![Effect::SendStaleTerm {
                to: "n1".into(),
                term_seen: 5
            }]
        );
        assert_eq!(n2.dc(), None);
    }
}
