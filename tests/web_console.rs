//! The web console as an operator uses it: a 3-node local cluster with the
//! demo resources, `systole web` on loopback, and each page driven in
//! headless Chromium (Debian's `chromium`) over the DevTools protocol (on a
//! pipe: no port). Each page's screenshot is saved under
//! `target/web-console/` (the paths are printed) and checked to be a real,
//! non-blank PNG; what the pages show is checked in their DOM. Also: live
//! push, an admin action, the sandbox (what-if, bad XML, commit), /metrics,
//! a read-only login refused an action, a token check, and TLS plus login
//! required on any address but loopback. Every wait is bounded; the cluster,
//! the consoles and the browser are stopped by Drop guards.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::io::{FromRawFd, IntoRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_systole");
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(30);

fn systole(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run systole");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

mod common;

/// The cluster under test; `cluster down` when its directory goes.
struct Cluster {
    dir: common::ClusterDir,
}

impl Cluster {
    fn up() -> Cluster {
        let cluster = Cluster {
            dir: common::ClusterDir::new(),
        };
        let (ok, out) = systole(cluster.dir(), &["cluster", "up", "--nodes", "3"]);
        assert!(ok, "cluster up: {out}");
        wait_until("every demo resource to start", || {
            cluster
                .status()
                .is_some_and(|s| s["dc"].is_string() && all_started(&s))
        });
        cluster
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn status(&self) -> Option<Value> {
        let (ok, out) = systole(self.dir(), &["status", "--json"]);
        ok.then(|| serde_json::from_str(&out).ok()).flatten()
    }

    fn node(&self, name: &str) -> Value {
        let status = self.status().expect("status");
        status["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["name"] == name).cloned())
            .unwrap_or(Value::Null)
    }
}

fn all_started(status: &Value) -> bool {
    status["resources"].as_array().is_some_and(|rs| {
        !rs.is_empty()
            && rs.iter().all(|r| {
                r["role"] != "Stopped" && r["nodes"].as_array().is_some_and(|n| !n.is_empty())
            })
    })
}

/// A `systole web` process, stopped on drop.
struct Console {
    child: Child,
    url: String,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Console {
    fn start(dir: &Path, extra: &[&str]) -> Console {
        let mut child = Command::new(BIN)
            .args(["web", "--bind", "127.0.0.1:0"])
            .args(extra)
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start systole web");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the console's first line");
        let url = line
            .trim()
            .strip_prefix("web console on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Console { child, url }
    }
}

/// Headless Chromium driven over `--remote-debugging-pipe` (fd 3 in, fd 4
/// out, messages ended by NUL).
struct Browser {
    child: Child,
    to_browser: std::fs::File,
    from_browser: mpsc::Receiver<Value>,
    events: Vec<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
        0,
        "pipe"
    );
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

impl Browser {
    fn start(extra: &[&str]) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: the web console's tests need Debian's chromium package (`apt-get install chromium`; .ci/run installs it)"
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let (browser_reads, we_write) = pipe();
        let (we_read, browser_writes) = pipe();
        let (r, w) = (browser_reads.into_raw_fd(), browser_writes.into_raw_fd());
        let mut command = Command::new(CHROMIUM);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-pipe",
                "--window-size=1280,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(profile.path().join("chromium.log"))
                    .map_or(Stdio::null(), Stdio::from),
            );
        unsafe {
            command.pre_exec(move || {
                // Moved above 4 first: a pipe end may already be fd 3 or 4
                // (where dup2 would do nothing, leaving it close-on-exec).
                let (r, w) = (
                    libc::fcntl(r, libc::F_DUPFD, 10),
                    libc::fcntl(w, libc::F_DUPFD, 10),
                );
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start chromium");
        unsafe {
            libc::close(r);
            libc::close(w);
        }
        let (send, from_browser) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(we_read);
            loop {
                let mut message = Vec::new();
                match reader.read_until(0, &mut message) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        message.pop();
                        if let Ok(value) = serde_json::from_slice::<Value>(&message) {
                            if send.send(value).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            to_browser: we_write,
            from_browser,
            events: Vec::new(),
            next_id: 1,
            session: String::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("target id").to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().expect("session").to_string();
        browser.call("Page.enable", json!({}));
        browser
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("json");
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .expect("write to chromium");
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self
                .from_browser
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            if answer["id"] == id {
                assert!(answer["error"].is_null(), "{method}: {answer}");
                return answer["result"].clone();
            }
            self.events.push(answer);
        }
    }

    /// Waits for the page's load event (after a navigation or a submit).
    fn wait_load(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["method"] == "Page.loadEventFired")
            {
                self.events.drain(..=i);
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .from_browser
                .recv_timeout(left)
                .expect("the page did not load in time");
            self.events.push(event);
        }
    }

    fn open(&mut self, url: &str) {
        self.events.clear();
        self.call("Page.navigate", json!({"url": url}));
        self.wait_load();
    }

    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `script` (which submits a form or clicks), then waits for the
    /// page it leads to.
    fn submit(&mut self, script: &str) {
        self.events.clear();
        self.eval(script);
        self.wait_load();
    }

    fn wait_for_text(&mut self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if check(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; page shows:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Saves a full-page screenshot and checks it is a non-blank PNG.
    fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = systole::web::auth::decode_base64(shot["data"].as_str().expect("data"))
            .expect("base64 screenshot");
        check_png(&png, name);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-console");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("write screenshot");
        println!("screenshot of {name}: {}", path.display());
        path
    }
}

/// A PNG of a real page: the signature, a sane size, and pixels that are
/// not all one colour (inflated from its IDAT chunks).
fn check_png(png: &[u8], name: &str) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 800 && height >= 400, "{name}: {width}x{height}");
    let mut data = Vec::new();
    let mut at = 8;
    while at + 8 <= png.len() {
        let length = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        if &png[at + 4..at + 8] == b"IDAT" {
            data.extend_from_slice(&png[at + 8..at + 8 + length]);
        }
        at += 12 + length;
    }
    let mut pixels = Vec::new();
    flate2::read::ZlibDecoder::new(&data[..])
        .read_to_end(&mut pixels)
        .expect("inflate the PNG");
    let mut seen = [false; 256];
    for b in &pixels {
        seen[*b as usize] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count();
    assert!(
        distinct > 16,
        "{name}: the screenshot looks blank ({distinct} byte values)"
    );
}

/// One plain HTTP/1.1 request on loopback: (status, body).
fn http(url: &str, method: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, answer)
}

fn write_users(dir: &Path) -> PathBuf {
    let users = dir.join("web-users");
    for (name, group, password) in [
        ("alice", "ha-web-admins", "alice-pw"),
        ("rita", "ha-web-readers", "rita-pw"),
    ] {
        let mut child = Command::new(BIN)
            .args(["web", "passwd", "--users"])
            .arg(&users)
            .args([name, "--group", group])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("web passwd");
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        assert!(child.wait().unwrap().success(), "web passwd {name}");
    }
    users
}

fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("web.crt"), dir.join("web.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian's openssl package; .ci/run installs it)");
    assert!(status.success(), "openssl req failed");
    (cert, key)
}

#[test]
fn web_console_pages_in_headless_chromium() {
    let started = Instant::now();
    let cluster = Cluster::up();
    let dc = cluster.status().unwrap()["dc"]
        .as_str()
        .unwrap()
        .to_string();
    let console = Console::start(cluster.dir(), &[]);
    let mut browser = Browser::start(&[]);

    // Status: nodes, the DC, the resources grouped, admin buttons.
    let load = Instant::now();
    browser.open(&format!("{}/", console.url));
    println!("status page loaded in {} ms", load.elapsed().as_millis());
    let text = browser.text();
    for expected in [
        "node1",
        "node2",
        "node3",
        "web-server",
        "web-fs",
        "vip",
        "ping-clone",
        "with quorum",
    ] {
        assert!(
            text.contains(expected),
            "status page lacks {expected}:\n{text}"
        );
    }
    assert_eq!(
        browser.eval("document.getElementById('dc').textContent"),
        json!(dc)
    );
    assert!(
        browser
            .eval("document.querySelectorAll('form[action=\"/action\"]').length")
            .as_u64()
            > Some(10)
    );
    browser.screenshot("status");

    // Live push: a change made elsewhere shows up without a reload.
    browser.eval("window.notReloaded = true");
    let (ok, out) = systole(cluster.dir(), &["node", "standby", "node2"]);
    assert!(ok, "{out}");
    browser.wait_for_text("node2 in standby on the page", |t| {
        t.contains("online, standby")
    });
    assert_eq!(
        browser.eval("window.notReloaded === true"),
        json!(true),
        "the page was reloaded"
    );
    assert!(
        browser
            .eval("Number(document.getElementById('live').dataset.updates || 0)")
            .as_u64()
            >= Some(1)
    );

    // An admin action from the page: node2 back online.
    browser.submit(
        "document.querySelector('button[data-action=\"online\"][data-target=\"node2\"]').click()",
    );
    let notice = browser
        .eval("document.getElementById('notice') && document.getElementById('notice').textContent");
    assert!(
        notice
            .as_str()
            .is_some_and(|n| n.contains("node2 is online again")),
        "{notice}"
    );
    wait_until("node2 online again", || {
        cluster.node("node2")["standby"] == json!(false)
    });

    // Transitions: graphs with boxes and arrows, cause and input version;
    // a new transition appears live.
    browser.open(&format!("{}/transitions", console.url));
    let boxes = browser.eval("document.querySelectorAll('svg.graph g.action').length");
    assert!(boxes.as_u64() > Some(3), "{boxes}");
    assert!(
        browser
            .eval("document.querySelectorAll('svg.graph path.edge').length")
            .as_u64()
            > Some(0)
    );
    let text = browser.text();
    assert!(
        text.contains("cause:") && text.contains("input CIB"),
        "{text}"
    );
    browser.screenshot("transitions");
    let newest = browser.eval("document.querySelector('article.transition').id");
    let vip_node = cluster.status().unwrap()["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["id"] == "vip"))
        .and_then(|r| r["nodes"][0].as_str().map(String::from))
        .expect("vip runs somewhere");
    let (ok, out) = systole(cluster.dir(), &["resource", "ban", "vip", &vip_node]);
    assert!(ok, "{out}");
    let deadline = Instant::now() + WAIT;
    while browser.eval("document.querySelector('article.transition').id") == newest {
        assert!(
            Instant::now() < deadline,
            "no new transition pushed to the page"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        browser.eval("window.notReloaded === undefined"),
        json!(true)
    );

    // Sandbox: a what-if drawn, bad XML refused in words, a commit.
    browser.open(&format!("{}/sandbox", console.url));
    browser.submit(&format!(
        "document.querySelector('input[name=node_down]').value = '{dc}'; document.getElementById('sandbox-form').submit()"
    ));
    let text = browser.text();
    assert!(text.contains(&format!("{dc} goes down")), "{text}");
    assert!(text.contains("The transition that would follow"), "{text}");
    assert!(
        browser
            .eval("document.querySelectorAll('#sandbox-result svg.graph g.action').length")
            .as_u64()
            > Some(0)
    );
    browser.screenshot("sandbox");
    browser.submit("document.querySelector('textarea[name=xml]').value = '<configuration><resources><primitive'; document.getElementById('sandbox-form').submit()");
    let text = browser.text();
    assert!(text.contains("import refused"), "{text}");
    browser.submit("document.querySelector('textarea[name=xml]').value = ''; document.querySelector('input[name=node_down]').value = ''; document.querySelector('input[name=constraint]').value = 'location web prefers node1=50'; document.getElementById('sandbox-form').submit()");
    browser.submit("document.getElementById('commit-form').submit()");
    let text = browser.text();
    assert!(text.contains("committed shadow web-sandbox"), "{text}");
    let (ok, out) = systole(cluster.dir(), &["constraint", "list"]);
    assert!(ok && out.contains("node1") && out.contains("50"), "{out}");

    // /metrics: the exporter's names and Systole's own.
    let (code, metrics) = http(&format!("{}/metrics", console.url), "GET", &[]);
    assert_eq!(code, 200, "{metrics}");
    for expected in [
        "ha_cluster_pacemaker_nodes{node=\"node1\",status=\"online\",type=\"member\"} 1",
        &format!("ha_cluster_pacemaker_nodes{{node=\"{dc}\",status=\"dc\",type=\"member\"}} 1"),
        "ha_cluster_pacemaker_resources{agent=\"ocf:systole:Dummy\"",
        "ha_cluster_pacemaker_migration_threshold{",
        &format!(
            "ha_cluster_pacemaker_location_constraints{{constraint=\"cli-ban-vip-on-{vip_node}\""
        ),
        "systole_consensus_term{",
        "systole_consensus_commit_index{",
        "systole_bus_messages_total{counter=\"sent\"",
        "systole_actor_restarts_total{",
        "systole_transition_duration_seconds_bucket{",
    ] {
        assert!(metrics.contains(expected), "/metrics lacks {expected}");
    }
    drop(browser);
    drop(console);
    println!(
        "web console test (cluster, pages, actions) took {} ms",
        started.elapsed().as_millis()
    );

    login_tls_and_read_only(&cluster);
}

/// A console with TLS and a login: read-only users see all, act on nothing;
/// a form without the session's token is refused; /metrics wants a login;
/// any address but loopback without TLS and login is refused at start.
fn login_tls_and_read_only(cluster: &Cluster) {
    let users = write_users(cluster.dir());
    let (cert, key) = self_signed(cluster.dir());
    let users_arg = users.display().to_string();
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let console = Console::start(
        cluster.dir(),
        &[
            "--users",
            &users_arg,
            "--tls-cert",
            &cert_arg,
            "--tls-key",
            &key_arg,
            "--admin-group",
            "ha-web-admins",
            "--readonly-group",
            "ha-web-readers",
        ],
    );
    assert!(console.url.starts_with("https://"), "{}", console.url);
    let mut browser = Browser::start(&["--ignore-certificate-errors"]);
    browser.open(&format!("{}/", console.url));
    assert_eq!(browser.eval("location.pathname"), json!("/login"));
    browser.screenshot("login");
    let login = |browser: &mut Browser, user: &str, password: &str| {
        browser.open(&format!("{}/login", console.url));
        browser.submit(&format!(
            "document.querySelector('input[name=user]').value = '{user}'; document.querySelector('input[name=password]').value = '{password}'; document.querySelector('form.login').submit()"
        ));
    };
    login(&mut browser, "rita", "wrong");
    assert!(browser.text().contains("wrong user or password"));
    login(&mut browser, "rita", "rita-pw");
    let text = browser.text();
    assert!(
        text.contains("rita (read-only)") && text.contains("node3") && text.contains("web-server"),
        "{text}"
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('form[action=\"/action\"]').length"),
        json!(0)
    );
    browser.screenshot("status-read-only");
    let refused = browser.eval(
        "fetch('/action', {method: 'POST', body: new URLSearchParams({csrf: document.querySelector('input[name=csrf]').value, action: 'standby', node: 'node1'})}).then(async r => [r.status, await r.text()])",
    );
    assert_eq!(refused[0], json!(403), "{refused}");
    assert!(
        refused[1].as_str().unwrap().contains("may only read"),
        "{refused}"
    );
    assert_eq!(cluster.node("node1")["standby"], json!(false));

    login(&mut browser, "alice", "alice-pw");
    assert!(browser.text().contains("alice (admin)"));
    let forged = browser.eval(
        "fetch('/action', {method: 'POST', body: new URLSearchParams({csrf: 'forged', action: 'standby', node: 'node1'})}).then(async r => [r.status, await r.text()])",
    );
    assert_eq!(forged[0], json!(403), "{forged}");
    assert!(
        forged[1].as_str().unwrap().contains("token does not match"),
        "{forged}"
    );
    let metrics = browser.eval("fetch('/metrics').then(r => r.status)");
    assert_eq!(metrics, json!(200));
    drop(browser);
    drop(console);

    let out = Command::new(BIN)
        .args(["web", "--bind", "0.0.0.0:0", "--dir"])
        .arg(cluster.dir())
        .output()
        .expect("systole web");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("refusing to serve the console on 0.0.0.0:0 without TLS"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "it must not have started");
}
