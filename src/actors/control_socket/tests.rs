//! The control socket's tests: protocol, client and server together.

use super::*;
#[allow(unused_imports)]
use crate::actors::message::CibChange;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[test]
fn refusals_by_access() {
    let caller = Caller {
        uid: 1234,
        gid: 1234,
        pid: None,
    };
    let read = ControlRequest::CibGet;
    let write = ControlRequest::Shutdown;
    assert_eq!(refusal(&read, &caller, Access::Admin), None);
    assert_eq!(refusal(&write, &caller, Access::Admin), None);
    assert_eq!(refusal(&read, &caller, Access::ReadOnly), None);
    assert!(refusal(&write, &caller, Access::ReadOnly)
        .unwrap()
        .contains("may only read"));
    assert!(refusal(&read, &caller, Access::Denied)
        .unwrap()
        .contains("neither root nor"));
    assert_eq!(
        refusal(&ControlRequest::Ping, &caller, Access::Denied),
        None
    );
}

#[test]
fn frames_round_trip_and_garbage_is_an_error() {
    let frame = encode_frame(&ControlRequest::ActorsKill { name: "cib".into() }).unwrap();
    let body = read_frame(&mut &frame[..]).unwrap();
    assert!(
        matches!(decode_body::<ControlRequest>(&body).unwrap(), ControlRequest::ActorsKill { name } if name == "cib")
    );
    assert!(decode_body::<ControlRequest>(b"\xff\x00garbage").is_err());
    let huge = (u32::MAX).to_be_bytes();
    assert!(matches!(
        read_frame(&mut &huge[..]),
        Err(ControlError::TooLarge(_))
    ));
    assert!(read_frame(&mut &[0u8, 0][..]).is_err());
}

#[tokio::test]
async fn server_answers_and_refuses_mutation_by_readers() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    let path = socket.clone();
    tokio::spawn(async move {
        serve(
            &path,
            SocketOwnership::default(),
            |request, _caller| async move {
                match request {
                    ControlRequest::Ping => ControlResponse::Pong { node: "n1".into() },
                    _ => ControlResponse::Done("done".into()),
                }
            },
            |_caller| Access::ReadOnly,
        )
        .await
    });
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = socket.clone();
    let pong = tokio::task::spawn_blocking(move || call(&s, &ControlRequest::Ping, 2_000))
        .await
        .unwrap();
    assert!(matches!(pong, Ok(ControlResponse::Pong { node }) if node == "n1"));
    let s = socket.clone();
    let refused = tokio::task::spawn_blocking(move || call(&s, &ControlRequest::Shutdown, 2_000))
        .await
        .unwrap();
    assert!(matches!(refused, Ok(ControlResponse::Error(e)) if e.contains("permission denied")));
    // Garbage on the socket gets an error answer, and the server lives on.
    let s = socket.clone();
    tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(&s).unwrap();
        stream.write_all(&[0, 0, 0, 3, 0xc1, 0xc1, 0xc1]).unwrap();
        let body = read_frame(&mut stream).unwrap();
        assert!(matches!(
            decode_body::<ControlResponse>(&body).unwrap(),
            ControlResponse::Error(_)
        ));
    })
    .await
    .unwrap();
    let s = socket.clone();
    let pong = tokio::task::spawn_blocking(move || call(&s, &ControlRequest::Ping, 2_000))
        .await
        .unwrap();
    assert!(pong.is_ok());
}

#[test]
fn the_socket_never_replaces_what_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    // A regular file is refused and kept.
    let file = dir.path().join("precious");
    std::fs::write(&file, "keep me").unwrap();
    let error = bind_socket(&file, SocketOwnership::default()).unwrap_err();
    assert!(matches!(error, SocketError::NotASocket { .. }), "{error}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    // Too long a path is named with the limit.
    let long = dir.path().join("x".repeat(120));
    let error = bind_socket(&long, SocketOwnership::default()).unwrap_err();
    assert!(
        error.to_string().contains("SOCKET_PATH_BYTES_MAX = 107"),
        "{error}"
    );
    // A fresh socket is 0660; a live one is not taken over; a stale one is.
    let socket = dir.path().join("s.sock");
    let listener = bind_socket(&socket, SocketOwnership::default()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    assert!(matches!(
        bind_socket(&socket, SocketOwnership::default()),
        Err(SocketError::InUse { .. })
    ));
    drop(listener);
    assert!(bind_socket(&socket, SocketOwnership::default()).is_ok());
}

async fn start_server(socket: &Path, access: Access) {
    let path = socket.to_path_buf();
    tokio::spawn(async move {
        serve(
            &path,
            SocketOwnership::default(),
            |_request, _caller| async move { ControlResponse::Pong { node: "n1".into() } },
            move |_caller| access,
        )
        .await
    });
    for _ in 0..200 {
        if UnixStream::connect(socket).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("server did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_access_cannot_make_the_daemon_read_a_large_body() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    start_server(&socket, Access::Denied).await;
    let s = socket.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(&s).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // Announce 60 MB and send none of it: the answer comes at once.
        stream.write_all(&(60_000_000u32).to_be_bytes()).unwrap();
        let body = read_frame(&mut stream).unwrap();
        decode_body::<ControlResponse>(&body).unwrap()
    })
    .await
    .unwrap();
    assert!(
        matches!(&answer, ControlResponse::Error(e) if e.contains("at most 64 bytes")),
        "{answer:?}"
    );
    // A ping (to find a node) still works for it.
    let s = socket.clone();
    let pong = tokio::task::spawn_blocking(move || call(&s, &ControlRequest::Ping, 2_000))
        .await
        .unwrap();
    assert!(matches!(pong, Ok(ControlResponse::Pong { .. })), "{pong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_mid_request_is_answered_and_dropped_after_the_idle_limit() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    start_server(&socket, Access::Admin).await;
    let s = socket.clone();
    let (answer, after) = tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(&s).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(CONTROL_IDLE_MS_MAX * 3)))
            .unwrap();
        // A length and half the body, then nothing.
        stream.write_all(&100u32.to_be_bytes()).unwrap();
        stream.write_all(&[0u8; 50]).unwrap();
        let body = read_frame(&mut stream).unwrap();
        let answer: ControlResponse = decode_body(&body).unwrap();
        // The daemon has closed its end: the next read sees the end.
        let mut rest = Vec::new();
        let after = std::io::Read::read_to_end(&mut stream, &mut rest).map(|_| rest.len());
        (answer, after)
    })
    .await
    .unwrap();
    assert!(
        matches!(&answer, ControlResponse::Error(e) if e.contains("CONTROL_IDLE_MS_MAX")),
        "{answer:?}"
    );
    assert_eq!(after.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_are_bound_only_by_the_overall_limit() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    start_server(&socket, Access::Admin).await;
    let s = socket.clone();
    tokio::task::spawn_blocking(move || {
        // Many agents calling crm_attribute at once, all as root.
        let held: Vec<UnixStream> = (0..CONTROL_CONNECTIONS_PER_UID_MAX * 3)
            .map(|_| UnixStream::connect(&s).unwrap())
            .collect();
        let answer = call(&s, &ControlRequest::Ping, 2_000);
        assert!(
            matches!(answer, Ok(ControlResponse::Pong { .. })),
            "{answer:?}"
        );
        drop(held);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_bounded_and_the_listener_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    // The per-uid bound holds for callers who are not administrators.
    start_server(&socket, Access::ReadOnly).await;
    let s = socket.clone();
    tokio::task::spawn_blocking(move || {
        // Many idle connections from one uid: past the per-uid bound
        // each is refused at once, and the listener keeps going.
        let mut idle = Vec::new();
        let mut refused = 0;
        for _ in 0..300 {
            let mut stream = UnixStream::connect(&s).unwrap();
            stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            if let Ok(body) = read_frame(&mut stream) {
                let answer: ControlResponse = decode_body(&body).unwrap();
                assert!(
                    matches!(&answer, ControlResponse::Error(e) if e.contains("CONTROL_CONNECTIONS_PER_UID_MAX")),
                    "{answer:?}"
                );
                refused += 1;
            } else {
                idle.push(stream);
            }
        }
        assert_eq!(idle.len(), CONTROL_CONNECTIONS_PER_UID_MAX);
        assert_eq!(refused, 300 - CONTROL_CONNECTIONS_PER_UID_MAX);
        drop(idle);
        // Slots come back when the idle callers go.
        let mut answered = false;
        for _ in 0..50 {
            if let Ok(ControlResponse::Pong { .. }) = call(&s, &ControlRequest::Ping, 2_000) {
                answered = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(answered);
    })
    .await
    .unwrap();
}

#[test]
fn admission_is_bounded_and_places_come_back() {
    let admission = Admission::new(2);
    let first = admission.try_enter().unwrap();
    let second = admission.try_enter().unwrap();
    assert!(admission.try_enter().is_none(), "full: refused, not queued");
    assert_eq!(admission.admitted(), 2);
    drop(first);
    let third = admission.try_enter().unwrap();
    assert!(admission.try_enter().is_none());
    drop((second, third));
    assert_eq!(admission.admitted(), 0);
    assert!(Admission::new(0).try_enter().is_none());
}

#[test]
fn reads_and_work_take_their_lanes() {
    assert_eq!(ControlRequest::Status.lane(), Lane::Read);
    assert_eq!(ControlRequest::CibGet.lane(), Lane::Read);
    assert_eq!(ControlRequest::CibGetConsistent.lane(), Lane::Work);
    assert_eq!(ControlRequest::Shutdown.lane(), Lane::Work);
    let agents = ControlRequest::Agents { filter: None };
    assert_eq!(agents.lane(), Lane::Work, "may run an agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_beyond_the_limit_is_told_busy_and_reads_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    let listener = bind_socket(&socket, SocketOwnership::default()).unwrap();
    let lanes = Lanes::with_limit("n1", tokio::runtime::Handle::current(), 2);
    let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let held_release = release.clone();
    tokio::spawn(serve_listener(
        listener,
        lanes.clone(),
        move |request: ControlRequest, _caller| {
            let release = held_release.clone();
            async move {
                if request.lane() == Lane::Work {
                    release.acquire().await.unwrap().forget();
                }
                ControlResponse::Done(format!("{request:?}"))
            }
        },
        |_caller| Access::Admin,
    ));
    let ask = |request: ControlRequest| {
        let socket = socket.clone();
        tokio::task::spawn_blocking(move || call(&socket, &request, 10_000))
    };
    let held = [ask(ControlRequest::Shutdown), ask(ControlRequest::Shutdown)];
    while lanes.admission.admitted() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let socket_path = socket.clone();
    let once = tokio::task::spawn_blocking(move || {
        call_once(&socket_path, &ControlRequest::Shutdown, 10_000)
    });
    assert!(matches!(
        once.await.unwrap(),
        Ok(ControlResponse::Busy { node, .. }) if node == "n1"
    ));
    // The CLI's call retries with backoff, then says so.
    let refused = ask(ControlRequest::Shutdown).await.unwrap().unwrap_err();
    assert!(matches!(refused, ControlError::Busy { attempts: 5, .. }));
    assert!(refused.to_string().contains("busy"), "{refused}");
    // Reads do not wait behind the held work.
    let status = ask(ControlRequest::Status).await.unwrap().unwrap();
    assert!(matches!(status, ControlResponse::Done(text) if text == "Status"));
    release.add_permits(2);
    for answer in held {
        let answer = answer.await.unwrap().unwrap();
        assert!(matches!(answer, ControlResponse::Done(text) if text == "Shutdown"));
    }
    assert_eq!(lanes.admission.admitted(), 0);
}

#[test]
fn a_daemon_that_does_not_answer_is_named_not_eagain() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    // Accepted by the kernel (backlog), never answered.
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let error = call(&socket, &ControlRequest::Status, 100).unwrap_err();
    assert!(
        matches!(
            error,
            ControlError::NoAnswer {
                timeout_ms: 100,
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.to_string().contains("temporarily"), "{error}");
}
