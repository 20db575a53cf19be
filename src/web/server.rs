//! The console's HTTP shell: routes, sessions, the control-socket calls
//! (on blocking threads, as the CLI makes them), the poller that pushes
//! changes, and the TLS listener. Everything it shows is rendered by the
//! pure modules beside it.

use super::auth::{self, Session, Sessions, WebUser};
use super::{actions, metrics, pages, sandbox, Endpoint, WebOptions};
use crate::actors::control_socket::{self, Access, ControlRequest, ControlResponse, StatusReport};
use crate::model::cib::xml::Element;
use crate::model::control::history::TransitionRecord;
use axum::extract::{Form, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How often the console asks the cluster for news while someone watches.
pub const POLL_MS: u64 = 500;
/// How long one control call may take.
const CALL_TIMEOUT_MS: u64 = 10_000;
/// A TLS handshake must finish within this.
const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Largest request body (a pasted configuration fits).
const BODY_BYTES_MAX: usize = 2 * 1024 * 1024;
const COOKIE: &str = "systole_session";

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("refusing to serve the console on {bind} without {missing}: only a loopback address may go without TLS and a login")]
    Exposed {
        bind: SocketAddr,
        missing: &'static str,
    },
    #[error("reading {path}: {why}")]
    File { path: String, why: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("binding {bind}: {source}")]
    Bind {
        bind: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Users(#[from] auth::UsersError),
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// What the poller last saw.
#[derive(Debug, Clone, Default, PartialEq)]
struct Snapshot {
    status: Option<StatusReport>,
    history: Vec<TransitionRecord>,
    history_from: String,
    error: Option<String>,
}

struct App {
    options: WebOptions,
    users: Vec<WebUser>,
    sessions: Sessions,
    /// Without login (loopback): everyone is the console's own user.
    local: Option<Session>,
    secure_cookie: bool,
    /// The node that answered last (for `--dir`).
    last_socket: Mutex<Option<PathBuf>>,
    snapshot: watch::Receiver<Snapshot>,
}

type Shared = Arc<App>;

/// Serves the console until the process ends. Prints the URL first.
pub async fn serve(options: WebOptions) -> Result<(), WebError> {
    super::check_options(&options)?;
    let users = match &options.users {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| WebError::File {
                path: path.display().to_string(),
                why: e.to_string(),
            })?;
            auth::parse_users(&text)?
        }
        None => Vec::new(),
    };
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls_config(cert, key)?),
        None => None,
    };
    let local = match options.users {
        Some(_) => None,
        None => Some(Session {
            user: String::new(),
            access: Access::Admin,
            csrf: auth::hex(
                &auth::random_bytes(32).map_err(|_| WebError::Tls("no randomness".into()))?,
            ),
        }),
    };
    let (publish, snapshot) = watch::channel(Snapshot::default());
    let app = Arc::new(App {
        secure_cookie: tls.is_some(),
        options: options.clone(),
        users,
        sessions: Sessions::default(),
        local,
        last_socket: Mutex::new(None),
        snapshot,
    });
    tokio::spawn(poll(Arc::clone(&app), publish));
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|source| WebError::Bind {
            bind: options.bind,
            source,
        })?;
    let bound = listener.local_addr().map_err(WebError::Serve)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("web console on {scheme}://{bound}/");
    tracing::info!(%bound, scheme, login = options.users.is_some(), "web console serving");
    let router = routes(app);
    match tls {
        Some(config) => axum::serve(TlsListener::start(listener, config), router)
            .await
            .map_err(WebError::Serve),
        None => axum::serve(listener, router).await.map_err(WebError::Serve),
    }
}

fn routes(app: Shared) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/transitions", get(transitions_page))
        .route("/transitions/{id}", get(transition_page))
        .route("/sandbox", get(sandbox_page).post(sandbox_run))
        .route("/sandbox/commit", post(sandbox_commit))
        .route("/events/{stream}", get(events))
        .route("/action", post(action))
        .route("/metrics", get(metrics_text))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route(
            "/static/console.css",
            get(|| async { static_file("text/css", include_str!("assets/console.css")) }),
        )
        .route(
            "/static/console.js",
            get(|| async { static_file("text/javascript", include_str!("assets/console.js")) }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn static_file(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

// ------------------------------------------------------------ the cluster

impl App {
    /// The socket to ask: the given one, or the first node of the local
    /// cluster that answers (the last good one first).
    fn socket(&self) -> Result<PathBuf, String> {
        let dir = match &self.options.endpoint {
            Endpoint::Socket(path) => return Ok(path.clone()),
            Endpoint::Dir(dir) => dir,
        };
        let last = self.last_socket.lock().ok().and_then(|l| l.clone());
        if let Some(socket) = last.filter(|s| crate::cli::localcluster::ping(s)) {
            return Ok(socket);
        }
        for node in crate::cli::localcluster::nodes_in(dir) {
            let socket = crate::cli::localcluster::socket_path(dir, &node);
            if crate::cli::localcluster::ping(&socket) {
                if let Ok(mut last) = self.last_socket.lock() {
                    *last = Some(socket.clone());
                }
                return Ok(socket);
            }
        }
        Err(format!(
            "no node of {} answers; is the cluster up?",
            dir.display()
        ))
    }

    /// For `--dir`: the DC's socket (it holds the running transition's
    /// live state), else any.
    fn dc_socket(&self, status: Option<&StatusReport>) -> Result<PathBuf, String> {
        if let (Endpoint::Dir(dir), Some(dc)) =
            (&self.options.endpoint, status.and_then(|s| s.dc.as_ref()))
        {
            let socket = crate::cli::localcluster::socket_path(dir, dc);
            if socket.exists() {
                return Ok(socket);
            }
        }
        self.socket()
    }
}

/// One control request on a blocking thread, as the CLI sends it.
async fn ask_at(socket: PathBuf, request: ControlRequest) -> Result<ControlResponse, String> {
    let answer = tokio::task::spawn_blocking(move || {
        control_socket::call(&socket, &request, CALL_TIMEOUT_MS)
    })
    .await
    .map_err(|e| format!("control call: {e}"))?;
    match answer {
        Ok(ControlResponse::Error(error)) => Err(error),
        Ok(answer) => Ok(answer),
        Err(error) => Err(error.to_string()),
    }
}

async fn ask(app: &App, request: ControlRequest) -> Result<ControlResponse, String> {
    let socket = tokio::task::block_in_place(|| app.socket())?;
    ask_at(socket, request).await
}

async fn status(app: &App) -> Result<StatusReport, String> {
    match ask(app, ControlRequest::Status).await? {
        ControlResponse::Status(report) => Ok(report),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

async fn live_cib(app: &App) -> Result<Element, String> {
    match ask(app, ControlRequest::CibGet).await? {
        ControlResponse::Cib { xml } => Element::parse(&xml).map_err(|e| e.to_string()),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

async fn history(
    app: &App,
    status: Option<&StatusReport>,
) -> Result<(String, Vec<TransitionRecord>), String> {
    let socket = tokio::task::block_in_place(|| app.dc_socket(status))?;
    match ask_at(socket, ControlRequest::History).await? {
        ControlResponse::History { node, transitions } => Ok((node, transitions)),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

async fn modify(app: &App, change: crate::actors::message::CibChange) -> Result<String, String> {
    match ask(app, ControlRequest::CibModify { change }).await? {
        ControlResponse::Done(text) => Ok(text),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// Asks the cluster for news while anyone watches, and publishes what
/// changed (the time of the report aside).
async fn poll(app: Shared, publish: watch::Sender<Snapshot>) {
    let mut ticker = tokio::time::interval(Duration::from_millis(POLL_MS));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if publish.receiver_count() <= 1 {
            continue;
        }
        let mut next = Snapshot::default();
        match status(&app).await {
            Ok(report) => next.status = Some(report),
            Err(error) => next.error = Some(error),
        }
        match history(&app, next.status.as_ref()).await {
            Ok((node, transitions)) => {
                next.history_from = node;
                next.history = transitions;
            }
            Err(error) => next.error = next.error.or(Some(error)),
        }
        publish.send_if_modified(|current| {
            let same = without_clock(current) == without_clock(&next);
            if !same {
                *current = next;
            }
            !same
        });
    }
}

fn without_clock(s: &Snapshot) -> Snapshot {
    let mut s = s.clone();
    if let Some(status) = s.status.as_mut() {
        status.updated_epoch_s = 0;
    }
    s
}

// ------------------------------------------------------------ sessions

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

fn session(app: &App, headers: &HeaderMap) -> Option<Session> {
    if let Some(local) = &app.local {
        return Some(local.clone());
    }
    app.sessions.get(&cookie(headers)?)
}

/// The session, or the response to give instead (the login page).
fn need_session(app: &App, headers: &HeaderMap) -> Result<Session, Response> {
    session(app, headers).ok_or_else(|| Redirect::to("/login").into_response())
}

/// The session of a page's request, as an extractor: a request without
/// one is sent to the login page.
struct LoggedIn(Session);

impl axum::extract::FromRequestParts<Shared> for LoggedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &Shared,
    ) -> Result<LoggedIn, Response> {
        need_session(app, &parts.headers).map(LoggedIn)
    }
}

/// An admin session with the right token, or the refusal.
fn need_admin(app: &App, headers: &HeaderMap, csrf: &str) -> Result<Session, Response> {
    let s = need_session(app, headers)?;
    if !auth::same_token(&s.csrf, csrf) {
        return Err(refusal(
            &s,
            StatusCode::FORBIDDEN,
            "refused: the form's token does not match this session (reload the page and try again)",
        ));
    }
    if s.access != Access::Admin {
        return Err(refusal(
            &s,
            StatusCode::FORBIDDEN,
            &format!(
                "permission denied: {} may only read; actions need a user in the admin group",
                s.user
            ),
        ));
    }
    Ok(s)
}

fn refusal(s: &Session, code: StatusCode, message: &str) -> Response {
    let body = pages::page("Refused", "", Some(s), &pages::notice(message, false));
    (code, axum::response::Html(body)).into_response()
}

fn html(body: String) -> Response {
    axum::response::Html(body).into_response()
}

#[derive(serde::Deserialize, Default)]
struct Notice {
    #[serde(default)]
    msg: String,
    #[serde(default)]
    ok: u8,
}

/// Back to `to` with a message (POST, redirect, GET: a reload repeats nothing).
fn back(to: &str, message: &str, ok: bool) -> Response {
    let encoded: String = message
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect();
    Redirect::to(&format!("{to}?ok={}&msg={encoded}", u8::from(ok))).into_response()
}

// ------------------------------------------------------------ pages

async fn status_page(
    State(app): State<Shared>,
    LoggedIn(s): LoggedIn,
    Query(n): Query<Notice>,
) -> Response {
    let content = match status(&app).await {
        Ok(report) => pages::status_fragment(&report, &s),
        Err(error) => pages::notice(&format!("cannot reach the cluster: {error}"), false),
    };
    let body = format!(
        "{}{}",
        pages::notice(&n.msg, n.ok == 1),
        pages::live("status", &content)
    );
    html(pages::page("Status", "Status", Some(&s), &body))
}

async fn transitions_page(State(app): State<Shared>, LoggedIn(s): LoggedIn) -> Response {
    let report = status(&app).await.ok();
    let content = match history(&app, report.as_ref()).await {
        Ok((node, transitions)) => pages::transitions_fragment(&transitions, &node),
        Err(error) => pages::notice(&format!("cannot reach the cluster: {error}"), false),
    };
    let body = format!(
        "<h1>Transitions</h1>{}",
        pages::live("transitions", &content)
    );
    html(pages::page("Transitions", "Transitions", Some(&s), &body))
}

async fn transition_page(
    State(app): State<Shared>,
    LoggedIn(s): LoggedIn,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return refusal(
            &s,
            StatusCode::NOT_FOUND,
            "no such transition (ids are numbers)",
        );
    };
    let report = status(&app).await.ok();
    match history(&app, report.as_ref()).await {
        Ok((_, transitions)) => match transitions.iter().find(|t| t.id == id) {
            Some(t) => html(pages::page(
                "Transition",
                "Transitions",
                Some(&s),
                &pages::transition(t),
            )),
            None => refusal(
                &s,
                StatusCode::NOT_FOUND,
                &format!("no transition {id} in the history"),
            ),
        },
        Err(error) => refusal(
            &s,
            StatusCode::BAD_GATEWAY,
            &format!("cannot reach the cluster: {error}"),
        ),
    }
}

/// The live fragments, pushed whenever the poller sees a change.
async fn events(
    State(app): State<Shared>,
    headers: HeaderMap,
    UrlPath(stream): UrlPath<String>,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if stream != "status" && stream != "transitions" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut receiver = app.snapshot.clone();
    receiver.mark_changed();
    let events = futures::stream::unfold(
        (receiver, s, stream),
        |(mut receiver, s, stream)| async move {
            // The first snapshot (nothing asked yet) would blank the page.
            let snapshot = loop {
                receiver.changed().await.ok()?;
                let snapshot = receiver.borrow_and_update().clone();
                if snapshot != Snapshot::default() {
                    break snapshot;
                }
            };
            let fragment = render_live(&snapshot, &s, &stream);
            let event = Event::default()
                .event("update")
                .data(fragment.replace('\r', ""));
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (receiver, s, stream),
            ))
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn render_live(snapshot: &Snapshot, s: &Session, stream: &str) -> String {
    if let (Some(error), None) = (&snapshot.error, &snapshot.status) {
        return pages::notice(&format!("cannot reach the cluster: {error}"), false);
    }
    match (stream, &snapshot.status) {
        ("status", Some(report)) => pages::status_fragment(report, s),
        ("transitions", _) => {
            pages::transitions_fragment(&snapshot.history, &snapshot.history_from)
        }
        _ => pages::notice("waiting for the cluster", false),
    }
}

async fn action(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<actions::ActionForm>,
) -> Response {
    if let Err(r) = need_admin(&app, &headers, &form.csrf) {
        return r;
    }
    let result = async {
        let cib = live_cib(&app).await?;
        let edit = actions::edit_for(&cib, &form, now_epoch_s())?;
        let summary = edit.summary.join("; ");
        match edit.into_change() {
            Some(change) => modify(&app, change)
                .await
                .map(|done| format!("{summary} ({done})")),
            None => Ok("nothing to change".to_string()),
        }
    }
    .await;
    match result {
        Ok(message) => back("/", &message, true),
        Err(error) => back("/", &format!("{} refused: {error}", form.action), false),
    }
}

async fn sandbox_page(
    State(app): State<Shared>,
    LoggedIn(s): LoggedIn,
    Query(n): Query<Notice>,
) -> Response {
    let nodes = live_cib(&app)
        .await
        .map(|c| sandbox::node_names(&c))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sandbox</h1>{}{}",
        pages::notice(&n.msg, n.ok == 1),
        pages::sandbox_form(&sandbox::WhatIf::default(), &s, &nodes)
    );
    html(pages::page("Sandbox", "Sandbox", Some(&s), &body))
}

async fn sandbox_run(
    State(app): State<Shared>,
    LoggedIn(s): LoggedIn,
    Form(what): Form<sandbox::WhatIf>,
) -> Response {
    if !auth::same_token(&s.csrf, &what.csrf) {
        return refusal(
            &s,
            StatusCode::FORBIDDEN,
            "refused: the form's token does not match this session (reload the page)",
        );
    }
    let (nodes, result) = match live_cib(&app).await {
        Ok(live) => {
            let nodes = sandbox::node_names(&live);
            let now = now_epoch_s();
            let what2 = what.clone();
            // The scheduler is pure but may take a while: off the reactor.
            let result = tokio::task::spawn_blocking(move || {
                let (cib, said) = what2.apply(&live, now)?;
                let record = sandbox::would_follow(&cib, now)?;
                let v = crate::model::cib::store::version(&live);
                Ok::<_, String>((said, record, (v.admin_epoch, v.epoch)))
            })
            .await
            .unwrap_or_else(|e| Err(format!("sandbox: {e}")));
            (nodes, result)
        }
        Err(error) => (
            Vec::new(),
            Err(format!("cannot reach the cluster: {error}")),
        ),
    };
    let shown = match result {
        Ok((said, record, base)) => pages::sandbox_result(&what, &s, &said, &record, base),
        Err(error) => pages::notice(&error, false),
    };
    let body = format!(
        "<h1>Sandbox</h1>{}{shown}",
        pages::sandbox_form(&what, &s, &nodes)
    );
    html(pages::page("Sandbox", "Sandbox", Some(&s), &body))
}

async fn sandbox_commit(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(what): Form<sandbox::WhatIf>,
) -> Response {
    if let Err(r) = need_admin(&app, &headers, &what.csrf) {
        return r;
    }
    let dir = app.options.shadow_dir.clone();
    let result = async {
        let base = sandbox::parse_base(&what.base)?;
        let live = live_cib(&app).await?;
        let edit = what.configuration_edit(&live)?;
        if edit.is_empty() {
            return Err("the what-ifs change no configuration (nodes down or up and failures are not committed)".to_string());
        }
        let mut shadow_cib = live.clone();
        edit.apply(&mut shadow_cib).map_err(|e| e.to_string())?;
        let name = what.shadow.trim().to_string();
        let dir2 = dir.clone();
        let change = tokio::task::spawn_blocking(move || {
            crate::os::shadow::save_with_origin(&dir2, &name, &shadow_cib, base)?;
            crate::os::shadow::commit_change(&dir2, &name, false)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{e:#}"))?;
        modify(&app, change).await
    }
    .await;
    let name = what.shadow.trim();
    match result {
        Ok(done) => back(
            "/sandbox",
            &format!(
                "committed shadow {name} (in {}): its configuration is live ({done})",
                dir.display()
            ),
            true,
        ),
        Err(error) => back(
            "/sandbox",
            &format!("commit of shadow {name} refused: {error}"),
            false,
        ),
    }
}

async fn metrics_text(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if app.local.is_none()
        && session(&app, &headers).is_none()
        && !basic_auth_ok(&app, &headers).await
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"systole\"")],
            "login required\n",
        )
            .into_response();
    }
    let report = match status(&app).await {
        Ok(report) => report,
        Err(error) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("cannot reach the cluster: {error}\n"),
            )
                .into_response()
        }
    };
    let cib = live_cib(&app)
        .await
        .unwrap_or_else(|_| crate::model::cib::store::empty_cib());
    let bus = match ask(&app, ControlRequest::BusStats).await {
        Ok(ControlResponse::Bus { stats, .. }) => metrics::counters(&stats),
        _ => Vec::new(),
    };
    let tree = match ask(&app, ControlRequest::Actors).await {
        Ok(ControlResponse::Actors { tree, .. }) => Some(tree),
        _ => None,
    };
    let timings = match ask(&app, ControlRequest::Timings).await {
        Ok(ControlResponse::Timings { timings, .. }) => timings,
        _ => Default::default(),
    };
    let text = metrics::render(&metrics::Scrape {
        status: &report,
        cib: &cib,
        bus,
        actors: tree.as_ref(),
        timings: &timings,
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `Authorization: Basic` with a user of the users file who may read (for
/// Prometheus's `basic_auth`).
async fn basic_auth_ok(app: &Shared, headers: &HeaderMap) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Some((user, password)) = auth::decode_base64(encoded.trim())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| {
            t.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        })
    else {
        return false;
    };
    let app = Arc::clone(app);
    tokio::task::spawn_blocking(move || check_login(&app, &user, &password).is_ok())
        .await
        .unwrap_or(false)
}

/// The user's access if the password is right and they may read at least.
fn check_login(app: &App, user: &str, password: &str) -> Result<Access, String> {
    let wrong = || "wrong user or password".to_string();
    let found = app
        .users
        .iter()
        .find(|u| u.name == user)
        .ok_or_else(wrong)?;
    if !found.verify(password) {
        return Err(wrong());
    }
    match auth::user_access(&app.options.groups, &found.groups) {
        Access::Denied => Err(format!(
            "{user} is in neither the admin nor the read-only group"
        )),
        access => Ok(access),
    }
}

async fn login_page(State(app): State<Shared>) -> Response {
    if app.local.is_some() {
        return Redirect::to("/").into_response();
    }
    html(pages::login(""))
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
}

async fn login(State(app): State<Shared>, Form(form): Form<LoginForm>) -> Response {
    if app.local.is_some() {
        return Redirect::to("/").into_response();
    }
    let checked = {
        let app = Arc::clone(&app);
        let (user, password) = (form.user.clone(), form.password);
        tokio::task::spawn_blocking(move || check_login(&app, &user, &password))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let access = match checked {
        Ok(access) => access,
        Err(error) => {
            tracing::warn!(user = %form.user, %error, "web console: login refused");
            return (
                StatusCode::UNAUTHORIZED,
                axum::response::Html(pages::login(&error)),
            )
                .into_response();
        }
    };
    let Some((token, _)) = app.sessions.open(&form.user, access) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "no session could be made",
        )
            .into_response();
    };
    tracing::info!(user = %form.user, ?access, "web console: signed in");
    let secure = if app.secure_cookie { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(serde::Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(app): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let (Some(token), Some(s)) = (cookie(&headers), session(&app, &headers)) {
        if auth::same_token(&s.csrf, &form.csrf) {
            app.sessions.close(&token);
        }
    }
    Redirect::to("/login").into_response()
}

fn now_epoch_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// ------------------------------------------------------------ TLS

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<tokio_rustls::rustls::ServerConfig>, WebError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let file_error = |path: &std::path::Path, why: String| WebError::File {
        path: path.display().to_string(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(cert, "no PEM certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e.to_string()))?;
    // ring, as the rest of Systole's cryptography (rustls marks it
    // deprecated only for lacking post-quantum key exchange).
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| WebError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| WebError::Tls(e.to_string()))?;
    Ok(Arc::new(config))
}

/// TCP connections that finished their TLS handshake. Handshakes run on
/// their own tasks, bounded in time, so a slow client holds up no one.
struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

impl TlsListener {
    fn start(
        listener: tokio::net::TcpListener,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> TlsListener {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (send, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, most likely: wait it out.
                        tracing::warn!(%error, "web console: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, send) = (acceptor.clone(), send.clone());
                tokio::spawn(async move {
                    let limit = Duration::from_millis(HANDSHAKE_TIMEOUT_MS);
                    match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = send.send((stream, peer)).await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "web console: TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "web console: TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { ready, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accepting task never ends; should it, serve nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; systole_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers).as_deref(), Some("abc"));
    }
}
