//! Throughput of the transport: authenticated, reliable messages per second
//! from one node to another over UDP on loopback.
//!
//! ```text
//! cargo run --release --bin bench_transport -- [--messages N] [--size BYTES]
//! ```
//!
//! Runs a small-message and a large-message round, then sequential round
//! trips for latency, unless `--size` is given.
//! Prints figures; asserts nothing about speed.

use std::time::{Duration, Instant};

use systole::transport::{start_udp, AuthKey, Bus, BusEvent, TransportConfig, TransportError};

type Events = tokio::sync::mpsc::Receiver<BusEvent>;

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    let value = args.get(i + 1)?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a number, not {value:?}")),
    )
}

/// Two nodes on loopback that see each other.
async fn pair() -> Result<((Bus, Events), (Bus, Events)), TransportError> {
    let key = AuthKey::generate()?;
    let mut cfg = TransportConfig::new("bench", "sender", key.clone());
    cfg.expected_votes = 2;
    let (sender, sender_events) = start_udp(cfg).await?;
    let mut cfg = TransportConfig::new("bench", "receiver", key);
    cfg.expected_votes = 2;
    cfg.peers = vec![("sender".into(), sender.local_addr().expect("UDP bus"))];
    let (receiver, receiver_events) = start_udp(cfg).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sender.view().members.len() < 2 || receiver.view().members.len() < 2 {
        assert!(Instant::now() < deadline, "nodes did not see each other");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(((sender, sender_events), (receiver, receiver_events)))
}

async fn next_message(events: &mut Events) -> Vec<u8> {
    loop {
        match events.recv().await.expect("bus running") {
            BusEvent::Message { payload, .. } => return payload,
            BusEvent::View(_) => {}
        }
    }
}

/// Sequential request/response round trips: latency, not throughput.
async fn ping_pong(round_trips: usize) -> Result<(), TransportError> {
    let ((ping, mut ping_events), (pong, mut pong_events)) = pair().await?;
    let echo = tokio::spawn(async move {
        for _ in 0..round_trips {
            let payload = next_message(&mut pong_events).await;
            pong.send("sender", payload).await.expect("echo");
        }
        pong
    });
    let mut rtts_us = Vec::with_capacity(round_trips);
    for _ in 0..round_trips {
        let start = Instant::now();
        ping.send("receiver", vec![1; 64]).await?;
        next_message(&mut ping_events).await;
        rtts_us.push(start.elapsed().as_micros() as u64);
    }
    let pong = echo.await.expect("echo task");
    rtts_us.sort_unstable();
    let at = |q: f64| rtts_us[((rtts_us.len() - 1) as f64 * q) as usize];
    println!(
        "{round_trips} round trips of 64 bytes: p50 {} us, p99 {} us, max {} us",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    ping.shutdown().await;
    pong.shutdown().await;
    Ok(())
}

async fn round(messages: usize, size: usize) -> Result<(), TransportError> {
    let ((sender, _sender_events), (receiver, mut events)) = pair().await?;

    let reader = tokio::spawn(async move {
        let mut received = 0;
        let mut bytes = 0;
        while received < messages {
            match events.recv().await {
                Some(BusEvent::Message { payload, .. }) => {
                    received += 1;
                    bytes += payload.len();
                }
                Some(BusEvent::View(_)) => {}
                None => break,
            }
        }
        (received, bytes)
    });

    let start = Instant::now();
    let payload = vec![0x5a; size];
    for _ in 0..messages {
        loop {
            match sender.send("receiver", payload.clone()).await {
                Ok(()) => break,
                Err(TransportError::QueueFull { .. }) => {
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                Err(error) => return Err(error),
            }
        }
    }
    let (received, bytes) = tokio::time::timeout(Duration::from_secs(300), reader)
        .await
        .expect("all messages within 300 s")
        .expect("reader task");
    let elapsed = start.elapsed().as_secs_f64();
    let stats = sender.stats();
    println!(
        "{received} messages of {size} bytes in {elapsed:.3} s: {:.0} messages/s, {:.1} MB/s \
         ({} datagrams sent, {} retransmits)",
        received as f64 / elapsed,
        bytes as f64 / elapsed / 1e6,
        stats.datagrams_sent,
        stats.retransmits,
    );
    sender.shutdown().await;
    receiver.shutdown().await;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), TransportError> {
    match arg("--size") {
        Some(size) => round(arg("--messages").unwrap_or(100_000), size).await,
        None => {
            round(arg("--messages").unwrap_or(200_000), 100).await?;
            round(200, 1 << 20).await?;
            ping_pong(10_000).await
        }
    }
}
