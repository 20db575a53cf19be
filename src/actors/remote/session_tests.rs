use super::*;

fn key() -> AuthKey {
    AuthKey::from_bytes([7; 32])
}

/// A connected pair after the handshake: (cluster node end, remote end).
fn pair() -> (Session, Session) {
    let mut host = Session::new(&key(), "demo", "node1", 11);
    let mut remote = Session::new(&key(), "demo", "r1", 22);
    let mut host_hs = Handshake::AwaitHello {
        expected_node: "r1".into(),
    };
    let mut remote_hs = Handshake::AwaitJoin;
    let mut hello = remote.seal(&RemoteMsg::Hello { node: "r1".into() }, 1);
    let msg = host.open(&mut hello[LENGTH_BYTES..], true).unwrap();
    let Step::Send(join) = host_hs.receive("node1", "r1", &msg).unwrap() else {
        panic!("no join");
    };
    let mut join = host.seal(&join, 2);
    let msg = remote.open(&mut join[LENGTH_BYTES..], false).unwrap();
    let Step::Send(welcome) = remote_hs.receive("r1", "node1", &msg).unwrap() else {
        panic!("no welcome");
    };
    assert_eq!(remote_hs, Handshake::Up);
    let mut welcome = remote.seal(&welcome, 3);
    let msg = host.open(&mut welcome[LENGTH_BYTES..], false).unwrap();
    assert_eq!(host_hs.receive("node1", "r1", &msg).unwrap(), Step::Up);
    (host, remote)
}

#[test]
fn a_handshake_then_messages_both_ways() {
    let (mut host, mut remote) = pair();
    let mut ping = host.seal(&RemoteMsg::Ping { id: 5 }, 4);
    assert_eq!(
        frame_len(ping[..LENGTH_BYTES].try_into().unwrap()).unwrap(),
        ping.len() - LENGTH_BYTES
    );
    assert_eq!(
        remote.open(&mut ping[LENGTH_BYTES..], false).unwrap(),
        RemoteMsg::Ping { id: 5 }
    );
    let mut pong = remote.seal(&RemoteMsg::Pong { id: 5 }, 5);
    assert_eq!(
        host.open(&mut pong[LENGTH_BYTES..], false).unwrap(),
        RemoteMsg::Pong { id: 5 }
    );
    assert_eq!(host.peer(), Some("r1"));
    assert_eq!(remote.peer(), Some("node1"));
}

#[test]
fn a_replayed_frame_is_refused() {
    let (mut host, mut remote) = pair();
    let ping = host.seal(&RemoteMsg::Ping { id: 1 }, 4);
    let mut first = ping.clone();
    remote.open(&mut first[LENGTH_BYTES..], false).unwrap();
    let mut again = ping;
    assert!(matches!(
        remote.open(&mut again[LENGTH_BYTES..], false),
        Err(SessionError::Replayed { .. })
    ));
}

#[test]
fn a_frame_of_another_connection_is_refused() {
    let (mut old_host, mut old_remote) = pair();
    let mut recorded = old_host.seal(&RemoteMsg::Ping { id: 1 }, 4);
    old_remote
        .open(&mut recorded.clone()[LENGTH_BYTES..], false)
        .unwrap();
    // A new connection: the daemon has a new incarnation.
    let mut remote = Session::new(&key(), "demo", "r1", 33);
    let _ = remote.seal(&RemoteMsg::Hello { node: "r1".into() }, 1);
    assert!(matches!(
        remote.open(&mut recorded[LENGTH_BYTES..], false),
        Err(SessionError::StaleIncarnation { got: 22, mine: 33 })
    ));
}

#[test]
fn a_forged_or_foreign_frame_is_refused() {
    let (mut host, mut remote) = pair();
    let mut ping = host.seal(&RemoteMsg::Ping { id: 1 }, 4);
    let last = ping.len() - 1;
    ping[last] ^= 1;
    assert_eq!(
        remote.open(&mut ping[LENGTH_BYTES..], false),
        Err(SessionError::Open(OpenError::Forged))
    );
    let mut stranger = Session::new(&AuthKey::from_bytes([9; 32]), "demo", "node1", 11);
    let mut foreign = stranger.seal(&RemoteMsg::Ping { id: 1 }, 4);
    assert_eq!(
        remote.open(&mut foreign[LENGTH_BYTES..], false),
        Err(SessionError::Open(OpenError::WrongKey))
    );
    let mut garbage = vec![0u8; 40];
    assert!(remote.open(&mut garbage, false).is_err());
    assert!(remote.open(&mut [], false).is_err());
}

#[test]
fn an_unbound_frame_is_accepted_only_as_the_hello() {
    let mut host = Session::new(&key(), "demo", "node1", 11);
    let mut remote = Session::new(&key(), "demo", "r1", 22);
    let mut hello = remote.seal(&RemoteMsg::Hello { node: "r1".into() }, 1);
    assert!(matches!(
        host.open(&mut hello.clone()[LENGTH_BYTES..], false),
        Err(SessionError::StaleIncarnation { got: 0, .. })
    ));
    assert!(host.open(&mut hello[LENGTH_BYTES..], true).is_ok());
}

#[test]
fn the_handshake_refuses_the_wrong_node_and_out_of_order_messages() {
    let mut hs = Handshake::AwaitHello {
        expected_node: "r1".into(),
    };
    assert!(matches!(
        hs.receive("node1", "r2", &RemoteMsg::Hello { node: "r2".into() }),
        Err(SessionError::WrongNode { .. })
    ));
    let mut hs = Handshake::AwaitJoin;
    assert!(matches!(
        hs.receive(
            "r1",
            "node1",
            &RemoteMsg::Exec {
                id: 1,
                op: crate::model::cib::operation::OpSpec {
                    resource: "d".into(),
                    agent: crate::model::cib::operation::AgentSpec {
                        class: crate::model::cib::ResourceClass::Ocf,
                        provider: Some("heartbeat".into()),
                        kind: "Dummy".into(),
                    },
                    operation: "start".into(),
                    interval_ms: 0,
                    timeout_ms: 1000,
                    params: Default::default(),
                    meta: Default::default(),
                }
            }
        ),
        Err(SessionError::Handshake("Exec"))
    ));
    let mut up = Handshake::Up;
    assert!(up.receive("r1", "node1", &RemoteMsg::Welcome).is_err());
}

#[test]
fn an_overlong_length_is_refused_before_reading() {
    assert!(frame_len((FRAME_BYTES_MAX as u32 + 1).to_be_bytes()).is_err());
    assert_eq!(frame_len(10u32.to_be_bytes()).unwrap(), 10);
}
