//! Real sockets on loopback: ports chosen by the kernel (port 0), every test
//! bounded by a timeout, every bus shut down at the end.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::auth::Sealer;
use super::frame::{Frame, Plain};
use super::{start_udp, AuthKey, Bus, BusEvent, TransportConfig, TransportStats};

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

fn config(
    name: &str,
    key: &AuthKey,
    bind: SocketAddr,
    peers: &[(&str, SocketAddr)],
) -> TransportConfig {
    let mut cfg = TransportConfig::new("udp-test", name, key.clone());
    cfg.bind = bind;
    cfg.peers = peers.iter().map(|(n, a)| (n.to_string(), *a)).collect();
    cfg.expected_votes = 3;
    cfg
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_members(buses: &[&Bus], count: usize) {
    wait_for("membership", || {
        buses.iter().all(|b| b.view().members.len() == count)
    })
    .await;
}

async fn wait_for_stat(bus: &Bus, what: &str, stat: impl Fn(&TransportStats) -> u64) {
    wait_for(what, || stat(&bus.stats()) >= 1).await;
}

/// Reads messages until `count` arrived; views are skipped.
async fn messages(events: &mut mpsc::Receiver<BusEvent>, count: usize) -> Vec<(String, Vec<u8>)> {
    let mut got = Vec::new();
    while got.len() < count {
        match timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(BusEvent::Message { from, payload })) => got.push((from, payload)),
            Ok(Some(BusEvent::View(_))) => {}
            other => panic!("after {} messages: {other:?}", got.len()),
        }
    }
    got
}

#[tokio::test]
async fn three_buses_exchange_messages_and_see_each_other() {
    timeout(TEST_TIMEOUT, async {
        let key = AuthKey::generate().unwrap();
        // Each node knows only the nodes started before it; the rest is learned.
        let (a, mut a_events) = start_udp(config("a", &key, loopback(), &[])).await.unwrap();
        let a_addr = a.local_addr().unwrap();
        let (b, mut b_events) = start_udp(config(
            "b",
            &key,
            loopback(),
            &[("a", a_addr), ("b", loopback())],
        ))
        .await
        .unwrap();
        let b_addr = b.local_addr().unwrap();
        let (c, mut c_events) = start_udp(config(
            "c",
            &key,
            loopback(),
            &[("a", a_addr), ("b", b_addr)],
        ))
        .await
        .unwrap();
        wait_for_members(&[&a, &b, &c], 3).await;
        assert!(a.view().quorate && b.view().quorate && c.view().quorate);

        const COUNT: usize = 100;
        let big = vec![0xab; 300_000];
        for seq in 0..COUNT {
            let payload = format!("{seq}").into_bytes();
            a.send("b", payload.clone()).await.unwrap();
            a.send("c", payload.clone()).await.unwrap();
            b.send("c", payload.clone()).await.unwrap();
            c.send("a", payload).await.unwrap();
        }
        a.send("c", big.clone()).await.unwrap();
        b.broadcast(b"to all".to_vec()).await.unwrap();

        let numbers = |got: &[(String, Vec<u8>)], from: &str| -> Vec<usize> {
            got.iter()
                .filter(|(f, p)| f == from && p.len() < 10 && p.as_slice() != b"to all")
                .map(|(_, p)| std::str::from_utf8(p).unwrap().parse().unwrap())
                .collect()
        };
        let in_order: Vec<usize> = (0..COUNT).collect();
        let at_b = messages(&mut b_events, COUNT + 1).await;
        assert_eq!(numbers(&at_b, "a"), in_order);
        let at_c = messages(&mut c_events, 2 * COUNT + 2).await;
        assert_eq!(numbers(&at_c, "a"), in_order);
        assert_eq!(numbers(&at_c, "b"), in_order);
        assert!(at_c.contains(&("a".into(), big)));
        let at_a = messages(&mut a_events, COUNT + 1).await;
        assert_eq!(numbers(&at_a, "c"), in_order);
        assert!(at_a.contains(&("b".into(), b"to all".to_vec())));

        let stats = a.stats();
        assert!(
            stats.datagrams_sent > 0 && stats.sent == 2 * COUNT as u64 + 1,
            "{stats:?}"
        );
        c.shutdown().await;
        wait_for_members(&[&a, &b], 2).await;
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn forged_replayed_and_garbage_datagrams_are_dropped_and_counted() {
    timeout(TEST_TIMEOUT, async {
        let key = AuthKey::generate().unwrap();
        // A spy listed as a peer of `a` receives a copy of a's heartbeats.
        let spy = UdpSocket::bind(loopback()).await.unwrap();
        let spy_addr = spy.local_addr().unwrap();
        let (a, _a_events) = start_udp(config("a", &key, loopback(), &[("spy", spy_addr)]))
            .await
            .unwrap();
        let (b, mut b_events) = start_udp(config(
            "b",
            &key,
            loopback(),
            &[("a", a.local_addr().unwrap())],
        ))
        .await
        .unwrap();
        wait_for_members(&[&a, &b], 2).await;
        // Take the newest heartbeat: b got the same datagram from a (older
        // ones may predate b, and those b never saw are not replays to it).
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut buf = vec![0; 65_536];
        let mut heartbeat = Vec::new();
        while let Ok((len, _)) = spy.try_recv_from(&mut buf) {
            heartbeat = buf[..len].to_vec();
        }
        assert!(!heartbeat.is_empty());
        let len = heartbeat.len();
        tokio::time::sleep(Duration::from_millis(20)).await;

        let attacker = UdpSocket::bind(loopback()).await.unwrap();
        let target = b.local_addr().unwrap();
        let send = |bytes: Vec<u8>| {
            let attacker = &attacker;
            async move {
                attacker.send_to(&bytes, target).await.unwrap();
            }
        };
        send(heartbeat.clone()).await;
        wait_for_stat(&b, "replay", |s| s.dropped_replayed).await;

        let mut forged = heartbeat.clone();
        *forged.last_mut().unwrap() ^= 0x01;
        send(forged).await;
        let mut forged_body = heartbeat.clone();
        forged_body[len - 20] ^= 0x80;
        send(forged_body).await;
        wait_for_stat(&b, "forged", |s| s.dropped_forged.saturating_sub(1)).await;

        send(heartbeat[..20].to_vec()).await;
        wait_for_stat(&b, "truncated", |s| s.dropped_truncated).await;

        let mut oversized = heartbeat.clone();
        oversized.resize(1_401, 0);
        send(oversized).await;
        wait_for_stat(&b, "oversized", |s| s.dropped_oversized).await;

        let other_key = AuthKey::generate().unwrap();
        let mut impostor = Sealer::new(&other_key, "udp-test", "a", u64::MAX);
        send(impostor.seal(&Plain {
            timestamp_ms: super::bus::wall_clock_ms(),
            frame: Frame::Heartbeat { seen: vec![] },
        }))
        .await;
        wait_for_stat(&b, "wrong key", |s| s.dropped_wrong_key).await;

        send(b"definitely not a systole datagram".to_vec()).await;
        send(Vec::new()).await;
        wait_for_stat(&b, "garbage", |s| s.dropped_malformed).await;

        // Nothing of it reached the layer above, and the bus still works.
        a.send("b", b"still fine".to_vec()).await.unwrap();
        let got = messages(&mut b_events, 1).await;
        assert_eq!(got, [("a".to_string(), b"still fine".to_vec())]);
        assert_eq!(b.view().members.len(), 2);
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// Whether this kernel loops IPv4 multicast back on 127.0.0.1.
fn loopback_multicast_works(group: Ipv4Addr) -> bool {
    let probe = || -> std::io::Result<bool> {
        let receiver = StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        receiver.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST)?;
        receiver.set_read_timeout(Some(Duration::from_millis(500)))?;
        let port = receiver.local_addr()?.port();
        let sender = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
        sender.set_multicast_if_v4(&Ipv4Addr::LOCALHOST)?;
        sender.set_multicast_loop_v4(true)?;
        let sender: StdUdpSocket = sender.into();
        sender.send_to(b"probe", (group, port))?;
        Ok(receiver.recv_from(&mut [0; 16]).is_ok())
    };
    probe().unwrap_or(false)
}

fn free_port() -> u16 {
    StdUdpSocket::bind(loopback())
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn multicast_on_loopback_where_the_kernel_allows_it() {
    let group = Ipv4Addr::new(239, 255, 42, 99);
    if !loopback_multicast_works(group) {
        eprintln!("skipped: this kernel does not loop multicast back on 127.0.0.1");
        return;
    }
    timeout(TEST_TIMEOUT, async {
        let key = AuthKey::generate().unwrap();
        let group_addr = SocketAddr::from((group, free_port()));
        let mut buses = Vec::new();
        for name in ["m1", "m2", "m3"] {
            let mut cfg = config(name, &key, loopback(), &[]);
            cfg.multicast = Some(group_addr);
            buses.push(start_udp(cfg).await.unwrap());
        }
        let refs: Vec<&Bus> = buses.iter().map(|(b, _)| b).collect();
        wait_for_members(&refs, 3).await;
        buses[0]
            .0
            .send("m3", b"over multicast discovery".to_vec())
            .await
            .unwrap();
        let got = messages(&mut buses[2].1, 1).await;
        assert_eq!(
            got,
            [("m1".to_string(), b"over multicast discovery".to_vec())]
        );
        for (bus, _) in &buses {
            bus.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn ipv6_unicast_where_the_host_has_it() {
    let any_v6: SocketAddr = "[::1]:0".parse().unwrap();
    if StdUdpSocket::bind(any_v6).is_err() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    timeout(TEST_TIMEOUT, async {
        let key = AuthKey::generate().unwrap();
        let (a, _) = start_udp(config("a", &key, any_v6, &[])).await.unwrap();
        let (b, mut b_events) =
            start_udp(config("b", &key, any_v6, &[("a", a.local_addr().unwrap())]))
                .await
                .unwrap();
        wait_for_members(&[&a, &b], 2).await;
        a.send("b", b"over IPv6".to_vec()).await.unwrap();
        assert_eq!(
            messages(&mut b_events, 1).await,
            [("a".to_string(), b"over IPv6".to_vec())]
        );
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn bad_configurations_are_refused_with_a_reason() {
    let key = AuthKey::from_bytes([1; 32]);
    let mut cfg = config("a", &key, loopback(), &[]);
    cfg.heartbeat_timeout_ms = cfg.heartbeat_interval_ms;
    let error = start_udp(cfg).await.unwrap_err().to_string();
    assert!(error.contains("heartbeat_timeout_ms"), "{error}");
    let mut cfg = config("a", &key, loopback(), &[]);
    cfg.multicast = Some("127.0.0.1:5405".parse().unwrap());
    let error = start_udp(cfg).await.unwrap_err().to_string();
    assert!(error.contains("not a multicast group"), "{error}");
    let cfg = config(&"x".repeat(65), &key, loopback(), &[]);
    assert!(start_udp(cfg).await.is_err());
}

#[tokio::test]
async fn heartbeats_go_on_while_nobody_reads_the_events() {
    timeout(TEST_TIMEOUT, async {
        let key = AuthKey::generate().unwrap();
        let mut cfg = config("a", &key, loopback(), &[]);
        cfg.expected_votes = 2;
        let (a, _a_events) = start_udp(cfg).await.unwrap();
        let mut cfg = config("b", &key, loopback(), &[("a", a.local_addr().unwrap())]);
        cfg.expected_votes = 2;
        cfg.limits.event_backlog_max = 100;
        let (b, mut b_events) = start_udp(cfg).await.unwrap();
        wait_for_members(&[&a, &b], 2).await;
        // More than b's event channel and backlog hold; nobody reads them.
        const COUNT: usize = 3_000;
        for seq in 0..COUNT {
            a.send("b", format!("{seq}").into_bytes()).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(a.view().members.len(), 2, "b still alive to a");
        assert_eq!(b.view().members.len(), 2, "a still alive to b");
        assert!(b.stats().dropped_backpressure > 0);
        // Once read, everything arrives, in order.
        let got = messages(&mut b_events, COUNT).await;
        let seqs: Vec<usize> = got
            .iter()
            .map(|(_, p)| std::str::from_utf8(p).unwrap().parse().unwrap())
            .collect();
        assert_eq!(seqs, (0..COUNT).collect::<Vec<_>>());
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// A node whose runtime is blocked and whose CPUs are saturated (spinning
/// threads at normal priority, a few seconds) is still heard and still
/// hears: the transport's own thread sends and judges heartbeats.
#[test]
fn a_busy_node_sees_no_view_changes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = AuthKey::generate().unwrap();
    let busy_config = |name: &str, peers: &[(&str, SocketAddr)]| {
        let mut cfg = config(name, &key, loopback(), peers);
        cfg.realtime_priority = true;
        cfg
    };
    let (buses, _events) = runtime.block_on(async {
        let (a, a_events) = start_udp(busy_config("a", &[])).await.unwrap();
        let a_addr = a.local_addr().unwrap();
        let (b, b_events) = start_udp(busy_config("b", &[("a", a_addr)])).await.unwrap();
        let b_addr = b.local_addr().unwrap();
        let (c, c_events) = start_udp(busy_config("c", &[("a", a_addr), ("b", b_addr)]))
            .await
            .unwrap();
        timeout(TEST_TIMEOUT, wait_for_members(&[&a, &b, &c], 3))
            .await
            .unwrap();
        ([a, b, c], [a_events, b_events, c_events])
    });
    let before: Vec<u64> = buses.iter().map(|b| b.stats().view_changes).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spinners: Vec<_> = (0..cpus * 2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
        })
        .collect();
    // The runtime that started the buses is blocked all along, as a busy
    // actor thread would be; nobody reads their events either.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().unwrap();
    }
    let after: Vec<u64> = buses.iter().map(|b| b.stats().view_changes).collect();
    assert_eq!(after, before, "view changes under load");
    assert!(buses.iter().all(|b| b.view().members.len() == 3));
    runtime.block_on(async {
        for bus in &buses {
            bus.shutdown().await;
        }
    });
}
