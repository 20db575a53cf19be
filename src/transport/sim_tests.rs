//! Whole clusters in one process over the simulated network, with faults
//! from a seed. Time is tokio's paused clock: the runs take virtual seconds
//! and little real time, and every wait is bounded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{AuthKey, Bus, BusEvent, Faults, MembershipView, MemoryNetwork, TransportConfig};

const KEY: [u8; 32] = [0x5a; 32];

#[derive(Default)]
struct Log {
    /// (receiver, sender) -> payloads in delivery order.
    messages: BTreeMap<(String, String), Vec<Vec<u8>>>,
    views: BTreeMap<String, Vec<MembershipView>>,
    /// Every event, with its virtual time, for replay comparisons.
    trace: Vec<String>,
}

struct Cluster {
    net: MemoryNetwork,
    buses: BTreeMap<String, Bus>,
    log: Arc<Mutex<Log>>,
    start: Instant,
    expected_votes: u32,
}

impl Cluster {
    fn new(seed: u64, names: &[&str], faults: Faults) -> Cluster {
        let net = MemoryNetwork::new(seed);
        net.set_faults(faults);
        let mut cluster = Cluster {
            net,
            buses: BTreeMap::new(),
            log: Arc::default(),
            start: Instant::now(),
            expected_votes: names.len() as u32,
        };
        for name in names {
            cluster.start_node(name);
        }
        cluster
    }

    fn config(&self, name: &str) -> TransportConfig {
        let mut cfg = TransportConfig::new("sim", name, AuthKey::from_bytes(KEY));
        cfg.expected_votes = self.expected_votes;
        cfg
    }

    fn start_node(&mut self, name: &str) {
        self.start_with(self.config(name));
    }

    fn start_with(&mut self, cfg: TransportConfig) {
        let name = cfg.node_name.clone();
        let (bus, mut events) = self.net.join(cfg);
        self.buses.insert(name.clone(), bus);
        let log = self.log.clone();
        let start = self.start;
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let mut log = log.lock().unwrap();
                let ms = start.elapsed().as_millis();
                match event {
                    BusEvent::Message { from, payload } => {
                        let head = &payload[..payload.len().min(24)];
                        let line = format!("{ms} {name} <- {from}: {} {head:?}", payload.len());
                        log.trace.push(line);
                        log.messages
                            .entry((name.clone(), from))
                            .or_default()
                            .push(payload);
                    }
                    BusEvent::View(view) => {
                        log.trace.push(format!("{ms} {name} view {view:?}"));
                        log.views.entry(name.clone()).or_default().push(view);
                    }
                }
            }
        });
    }

    fn bus(&self, name: &str) -> &Bus {
        &self.buses[name]
    }

    async fn wait_until(
        &self,
        what: &str,
        timeout_ms: u64,
        mut done: impl FnMut(&Cluster) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "seed {}: timed out after {timeout_ms} ms waiting for {what}",
                self.net.seed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until each named node sees exactly the named nodes.
    async fn wait_for_view(&self, nodes: &[&str], members: &[&str], timeout_ms: u64) {
        let what = format!("{nodes:?} to see {members:?}");
        self.wait_until(&what, timeout_ms, |c| {
            nodes.iter().all(|n| {
                let view = c.bus(n).view();
                view.members
                    .iter()
                    .map(String::as_str)
                    .eq(members.iter().copied())
            })
        })
        .await;
    }

    fn delivered(&self, to: &str, from: &str) -> Vec<Vec<u8>> {
        let log = self.log.lock().unwrap();
        log.messages
            .get(&(to.to_owned(), from.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    fn delivered_count(&self) -> usize {
        let log = self.log.lock().unwrap();
        log.messages.values().map(Vec::len).sum()
    }
}

fn payload(from: &str, to: &str, seq: usize, filler_bytes: usize) -> Vec<u8> {
    let mut bytes = format!("{from}>{to}#{seq:06}|").into_bytes();
    bytes.extend((0..filler_bytes).map(|i| (i % 251) as u8));
    bytes
}

fn seq_of(payload: &[u8]) -> usize {
    let text =
        std::str::from_utf8(&payload[..payload.iter().position(|b| *b == b'|').unwrap()]).unwrap();
    text.rsplit('#').next().unwrap().parse().unwrap()
}

/// Checks exactly-once, in-order delivery of `0..count` from `from` to `to`.
fn assert_exactly_once_in_order(cluster: &Cluster, from: &str, to: &str, count: usize) {
    let seqs: Vec<usize> = cluster
        .delivered(to, from)
        .iter()
        .map(|p| seq_of(p))
        .collect();
    let expected: Vec<usize> = (0..count).collect();
    assert_eq!(
        seqs,
        expected,
        "seed {}: {from} -> {to}",
        cluster.net.seed()
    );
}

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// How many seeds a randomized test runs: `default`, or more from `var`
/// (e.g. `CHAOS_SEEDS=500 cargo test --lib chaos`).
fn extra_seeds(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn lossy() -> Faults {
    Faults {
        drop_per_mille: 100,
        duplicate_per_mille: 50,
        delay_ms_min: 0,
        delay_ms_max: 30,
    }
}

async fn exchange_under_faults(seed: u64) {
    let cluster = Cluster::new(seed, &NODES, lossy());
    cluster.wait_for_view(&NODES, &NODES, 5_000).await;
    const COUNT: usize = 150;
    for seq in 0..COUNT {
        for from in NODES {
            for to in NODES {
                // Every 50th message is fragmented (about 40 datagrams).
                let filler = if seq % 50 == 7 { 50_000 } else { seq % 100 };
                cluster
                    .bus(from)
                    .send(to, payload(from, to, seq, filler))
                    .await
                    .unwrap_or_else(|e| panic!("seed {seed}: send {from}->{to}: {e}"));
            }
        }
        if seq % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let total = COUNT * NODES.len() * NODES.len();
    cluster
        .wait_until("every message delivered", 60_000, |c| {
            c.delivered_count() >= total
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for from in NODES {
        for to in NODES {
            assert_exactly_once_in_order(&cluster, from, to, COUNT);
        }
    }
    let stats = cluster.bus("n1").stats();
    assert!(
        stats.retransmits > 0,
        "seed {seed}: faults should force retransmits: {stats:?}"
    );
    assert!(
        stats.dropped_replayed > 0,
        "seed {seed}: duplicates are caught: {stats:?}"
    );
    assert_eq!(
        stats.dropped_forged + stats.dropped_wrong_key + stats.dropped_malformed,
        0
    );
}

#[tokio::test(start_paused = true)]
async fn reliable_exactly_once_in_order_under_faults() {
    for seed in 1..=extra_seeds("FAULT_SEEDS", 4) {
        exchange_under_faults(seed).await;
    }
}

#[tokio::test(start_paused = true)]
async fn several_megabytes_through_loss() {
    let cluster = Cluster::new(
        11,
        &["a", "b"],
        Faults {
            drop_per_mille: 20,
            duplicate_per_mille: 10,
            delay_ms_min: 1,
            delay_ms_max: 5,
        },
    );
    cluster.wait_for_view(&["a", "b"], &["a", "b"], 5_000).await;
    let cib = payload("a", "b", 0, 4 << 20);
    cluster.bus("a").send("b", cib.clone()).await.unwrap();
    cluster
        .bus("a")
        .send("b", payload("a", "b", 1, 10))
        .await
        .unwrap();
    cluster
        .wait_until("the big message", 120_000, |c| {
            c.delivered("b", "a").len() == 2
        })
        .await;
    assert_eq!(cluster.delivered("b", "a")[0], cib);
    assert_exactly_once_in_order(&cluster, "a", "b", 2);
}

#[tokio::test(start_paused = true)]
async fn partition_then_heal_converges_and_loses_nothing() {
    for seed in [3, 17]
        .into_iter()
        .chain(1000..1000 + extra_seeds("PARTITION_SEEDS", 0))
    {
        let cluster = Cluster::new(
            seed,
            &NODES,
            Faults {
                delay_ms_max: 10,
                ..lossy()
            },
        );
        cluster.wait_for_view(&NODES, &NODES, 5_000).await;
        let mut sent: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        let send_round = |c: &Cluster, sent: &mut BTreeMap<(&'static str, &'static str), usize>| {
            let mut batch = Vec::new();
            for from in NODES {
                for to in NODES {
                    if c.bus(from).view().members.contains(to) {
                        let seq = sent.entry((from, to)).or_default();
                        batch.push((from, to, payload(from, to, *seq, 10)));
                        *seq += 1;
                    }
                }
            }
            batch
        };
        for _ in 0..20 {
            for (from, to, p) in send_round(&cluster, &mut sent) {
                cluster.bus(from).send(to, p).await.unwrap();
            }
        }

        cluster.net.partition(&[&["n1"], &["n2", "n3"]]);
        cluster.wait_for_view(&["n1"], &["n1"], 2_000).await;
        cluster
            .wait_for_view(&["n2", "n3"], &["n2", "n3"], 2_000)
            .await;
        assert!(!cluster.bus("n1").view().quorate, "1 of 3");
        assert!(cluster.bus("n2").view().quorate, "2 of 3");
        let refused = cluster.bus("n2").send("n1", b"x".to_vec()).await;
        assert!(
            matches!(refused, Err(super::TransportError::NotMember(_))),
            "{refused:?}"
        );
        // The majority side keeps talking during the partition.
        for _ in 0..20 {
            for (from, to, p) in send_round(&cluster, &mut sent) {
                cluster.bus(from).send(to, p).await.unwrap();
            }
        }

        cluster.net.heal();
        cluster.wait_for_view(&NODES, &NODES, 3_000).await;
        assert!(NODES.iter().all(|n| cluster.bus(n).view().quorate));
        for _ in 0..20 {
            for (from, to, p) in send_round(&cluster, &mut sent) {
                cluster.bus(from).send(to, p).await.unwrap();
            }
        }
        let total: usize = sent.values().sum();
        cluster
            .wait_until("delivery after heal", 30_000, |c| {
                c.delivered_count() >= total
            })
            .await;
        for ((from, to), count) in &sent {
            assert_exactly_once_in_order(&cluster, from, to, *count);
        }
        // View ids only grow, on every node.
        let log = cluster.log.lock().unwrap();
        for views in log.views.values() {
            assert!(views.windows(2).all(|w| w[0].id < w[1].id));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn killed_node_leaves_within_a_second_and_restart_is_leave_then_join() {
    let mut cluster = Cluster::new(5, &NODES, Faults::default());
    cluster.wait_for_view(&NODES, &NODES, 2_000).await;
    let killed_at = Instant::now();
    cluster.net.kill("n3");
    assert!(matches!(
        cluster.bus("n3").send("n1", vec![]).await,
        Err(super::TransportError::Shutdown)
    ));
    cluster
        .wait_for_view(&["n1", "n2"], &["n1", "n2"], 1_000)
        .await;
    assert!(killed_at.elapsed() <= Duration::from_millis(1_000));
    assert!(cluster.bus("n1").view().quorate);

    // Back with a new incarnation.
    cluster.start_node("n3");
    cluster.wait_for_view(&NODES, &NODES, 2_000).await;
    cluster
        .bus("n1")
        .send("n3", payload("n1", "n3", 0, 1))
        .await
        .unwrap();
    cluster
        .wait_until("message to the new n3", 2_000, |c| {
            c.delivered("n3", "n1").len() == 1
        })
        .await;

    // A restart quicker than the timeout: the peers see it leave, then join.
    let views_before = cluster.log.lock().unwrap().views["n1"].len();
    cluster.start_node("n3");
    cluster
        .wait_until("leave and join of n3", 2_000, |c| {
            let log = c.log.lock().unwrap();
            let views = &log.views["n1"][views_before..];
            let left = views.iter().position(|v| !v.members.contains("n3"));
            left.is_some_and(|i| views[i..].iter().any(|v| v.members.contains("n3")))
        })
        .await;
    cluster
        .bus("n2")
        .send("n3", payload("n2", "n3", 0, 1))
        .await
        .unwrap();
    cluster
        .wait_until("message to the restarted n3", 2_000, |c| {
            c.delivered("n3", "n2").len() == 1
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn goodbye_leaves_at_once() {
    let cluster = Cluster::new(9, &["a", "b"], Faults::default());
    cluster.wait_for_view(&["a", "b"], &["a", "b"], 2_000).await;
    let start = Instant::now();
    cluster.bus("b").shutdown().await;
    cluster.bus("b").shutdown().await;
    cluster.wait_for_view(&["a"], &["a"], 1_000).await;
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "no timeout needed"
    );
}

#[tokio::test(start_paused = true)]
async fn local_and_broadcast_delivery() {
    let cluster = Cluster::new(21, &NODES, Faults::default());
    cluster.wait_for_view(&NODES, &NODES, 2_000).await;
    cluster
        .bus("n1")
        .send("n1", payload("n1", "n1", 0, 0))
        .await
        .unwrap();
    for seq in 1..=3 {
        cluster
            .bus("n1")
            .broadcast(payload("n1", "all", seq, 0))
            .await
            .unwrap();
    }
    cluster
        .wait_until("broadcasts", 2_000, |c| {
            NODES.iter().all(|n| c.delivered(n, "n1").len() >= 3)
        })
        .await;
    assert_exactly_once_in_order(&cluster, "n1", "n1", 4);
    for to in ["n2", "n3"] {
        let seqs: Vec<usize> = cluster
            .delivered(to, "n1")
            .iter()
            .map(|p| seq_of(p))
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }
    let too_big = vec![0; (16 << 20) + 1];
    assert!(matches!(
        cluster.bus("n1").send("n2", too_big).await,
        Err(super::TransportError::MessageTooLarge { .. })
    ));
    assert!(matches!(
        cluster.bus("n1").send("nobody", vec![]).await,
        Err(super::TransportError::NotMember(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_gets_everything_late_rather_than_never() {
    let mut cluster = Cluster::new(4, &["fast"], Faults::default());
    cluster.expected_votes = 2;
    let mut cfg = cluster.config("slow");
    cfg.limits.event_backlog_max = 16;
    let (slow, mut slow_events) = cluster.net.join(cfg);
    cluster
        .wait_until("join", 2_000, |c| c.bus("fast").view().members.len() == 2)
        .await;
    const COUNT: usize = 2_000;
    for seq in 0..COUNT {
        cluster
            .bus("fast")
            .send("slow", payload("fast", "slow", seq, 8))
            .await
            .unwrap();
    }
    // Nobody reads `slow`'s events for a while: backpressure, no loss.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut seqs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seqs.len() < COUNT {
        let event = tokio::time::timeout_at(deadline, slow_events.recv()).await;
        match event
            .expect("all messages within 30 s")
            .expect("events open")
        {
            BusEvent::Message { payload, .. } => seqs.push(seq_of(&payload)),
            BusEvent::View(view) => {
                assert!(seqs.is_empty() || view.members.contains("fast"), "{view:?}")
            }
        }
    }
    assert_eq!(seqs, (0..COUNT).collect::<Vec<_>>());
    assert!(slow.stats().dropped_backpressure > 0, "{:?}", slow.stats());
}

#[tokio::test(start_paused = true)]
async fn asymmetric_loss_is_reported_as_leave_and_join() {
    let cluster = Cluster::new(8, &["a", "b"], Faults::default());
    cluster.wait_for_view(&["a", "b"], &["a", "b"], 2_000).await;
    // b stops hearing a; a still hears b.
    cluster.net.block("a", "b");
    cluster.wait_for_view(&["b"], &["b"], 2_000).await;
    cluster.net.heal();
    cluster.wait_for_view(&["a", "b"], &["a", "b"], 2_000).await;
    cluster
        .bus("a")
        .send("b", payload("a", "b", 0, 1))
        .await
        .unwrap();
    cluster
        .wait_until("delivery after the one-way cut", 5_000, |c| {
            c.delivered("b", "a").len() == 1
        })
        .await;
}

fn traced_run(seed: u64) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let cluster = Cluster::new(seed, &NODES, lossy());
        cluster.wait_for_view(&NODES, &NODES, 5_000).await;
        for seq in 0..30 {
            for from in NODES {
                let to = NODES[(seq + 1) % 3];
                if from != to {
                    cluster
                        .bus(from)
                        .send(to, payload(from, to, seq, seq * 200))
                        .await
                        .unwrap();
                }
            }
        }
        cluster.net.partition(&[&["n1", "n2"], &["n3"]]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        cluster.net.heal();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let trace = std::mem::take(&mut cluster.log.lock().unwrap().trace);
        trace
    })
}

#[test]
fn a_seed_replays_the_same_run() {
    let first = traced_run(1234);
    assert!(first.len() > 50, "{first:?}");
    assert_eq!(first, traced_run(1234));
    assert_ne!(first, traced_run(4321));
}

/// Random kills, restarts, partitions and one-way cuts under lossy links,
/// with traffic throughout; then the faults stop and the cluster must
/// converge and carry messages again. Throughout, what each node delivers
/// from each sender incarnation is strictly increasing (no duplicate, no
/// reordering).
async fn chaos(seed: u64) {
    const FIVE: [&str; 5] = ["c1", "c2", "c3", "c4", "c5"];
    let mut cluster = Cluster::new(seed, &FIVE, lossy());
    cluster.wait_for_view(&FIVE, &FIVE, 5_000).await;
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound
    };
    let mut seqs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for _step in 0..40 {
        match next(6) {
            0 => cluster.net.kill(FIVE[next(5) as usize]),
            1 => cluster.start_node(FIVE[next(5) as usize]),
            2 => {
                let cut = 1 + next(4) as usize;
                cluster.net.partition(&[&FIVE[..cut], &FIVE[cut..]]);
            }
            3 => cluster
                .net
                .block(FIVE[next(5) as usize], FIVE[next(5) as usize]),
            4 => cluster.net.heal(),
            _ => {}
        }
        for from in FIVE {
            let bus = cluster.bus(from);
            for to in bus.view().members {
                let key = (format!("{from}@{}", bus.incarnation()), to.clone());
                let seq = seqs.entry(key.clone()).or_default();
                let body = payload(&key.0, &to, *seq, (*seq % 3) * 700);
                match bus.send(&to, body).await {
                    Ok(()) => *seq += 1,
                    Err(super::TransportError::NotMember(_) | super::TransportError::Shutdown) => {}
                    Err(error) => panic!("seed {seed}: {error}"),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(next(400))).await;
    }
    cluster.net.heal();
    cluster.net.set_faults(Faults::default());
    for name in FIVE {
        if cluster.bus(name).send(name, vec![]).await.is_err() {
            cluster.start_node(name); // killed and not restarted
        }
    }
    cluster.wait_for_view(&FIVE, &FIVE, 10_000).await;
    assert!(FIVE.iter().all(|n| cluster.bus(n).view().quorate));
    for from in FIVE {
        for to in FIVE {
            let body = payload(&format!("final-{from}"), to, 0, 10);
            cluster.bus(from).send(to, body).await.unwrap();
        }
    }
    cluster
        .wait_until("final round", 10_000, |c| {
            FIVE.iter().all(|to| {
                FIVE.iter().all(|from| {
                    let log = c.log.lock().unwrap();
                    log.messages
                        .get(&(to.to_string(), from.to_string()))
                        .is_some_and(|m| m.iter().any(|p| p.starts_with(b"final-")))
                })
            })
        })
        .await;
    let log = cluster.log.lock().unwrap();
    if std::env::var("CHAOS_DEBUG").is_ok() {
        let delivered: usize = log.messages.values().map(Vec::len).sum();
        let views: usize = log.views.values().map(Vec::len).sum();
        eprintln!(
            "seed {seed}: {delivered} delivered, {views} views, sent {}",
            seqs.values().sum::<usize>()
        );
    }
    for ((to, from), payloads) in &log.messages {
        let mut last: BTreeMap<String, usize> = BTreeMap::new();
        for p in payloads.iter().filter(|p| !p.is_empty()) {
            let text = String::from_utf8_lossy(&p[..p.iter().position(|b| *b == b'|').unwrap()])
                .to_string();
            let sender = text.split('>').next().unwrap().to_owned();
            let seq = seq_of(p);
            if let Some(previous) = last.insert(sender.clone(), seq) {
                assert!(
                    seq > previous,
                    "seed {seed}: {sender} -> {to} (as {from}): {seq} after {previous}"
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn chaos_with_kills_restarts_and_partitions_converges() {
    for seed in 100..100 + extra_seeds("CHAOS_SEEDS", 6) {
        chaos(seed).await;
    }
}

#[tokio::test(start_paused = true)]
async fn two_node_cluster_keeps_quorum_when_one_dies() {
    let mut cluster = Cluster::new(31, &[], Faults::default());
    cluster.expected_votes = 2;
    for name in ["left", "right"] {
        let mut cfg = cluster.config(name);
        cfg.two_node = true;
        cfg.wait_for_all = true;
        cluster.start_with(cfg);
        // Alone at boot with wait_for_all: no quorum yet.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if name == "left" {
            assert!(!cluster.bus("left").view().quorate);
        }
    }
    cluster
        .wait_for_view(&["left", "right"], &["left", "right"], 2_000)
        .await;
    assert!(cluster.bus("left").view().quorate);
    cluster.net.kill("right");
    cluster.wait_for_view(&["left"], &["left"], 1_000).await;
    assert!(
        cluster.bus("left").view().quorate,
        "two_node: 1 of 2 is quorate"
    );
}
