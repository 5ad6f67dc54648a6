//! Routes and handlers. Every page but the login needs a session; every
//! POST needs the session's CSRF token; a recording the user may not see
//! is answered exactly like one that does not exist (404).

// Handlers hand back a ready response as the error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, Form, Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use serde::Deserialize;
use tlog_rs_index::config::{Config, DbSpec};
use tlog_rs_index::derive::CHUNK_MS;
use tlog_rs_index::store::{self, AccessEntry, Keyframe, MessageRef, RecordingInfo, Store};
use tlog_rs_index::timewin;
use tlog_rs_retention::{purge_one, Actor, PurgeError};

use crate::access::syslog;
use crate::acl::{self, Access};
use crate::auth::{self, LoginError};
use crate::pages::{self, Filters};
use crate::serve::Client;
use crate::session::{self, Limiter, Session, Sessions, COOKIE, LOGIN_COOKIE};
use crate::{assets, cast, html, Options};

pub struct State {
    pub opts: Options,
    pub config: Config,
    pub db: DbSpec,
    pub sessions: Sessions,
    pub limiter: Limiter,
    /// At most this many PAM helpers at once.
    pub helpers: tokio::sync::Semaphore,
}

impl State {
    pub fn new(opts: Options, config: Config, db: DbSpec) -> Self {
        State {
            opts,
            config,
            db,
            sessions: Sessions::default(),
            // 5 failures per user and 20 per address in 15 minutes.
            limiter: Limiter::new(Duration::from_secs(15 * 60), 20, 5),
            helpers: tokio::sync::Semaphore::new(4),
        }
    }
}

type S = Arc<State>;

pub fn router(state: S) -> Router {
    Router::new()
        .route("/", get(list))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/access", get(access_log))
        .route("/r/{host}/{rec}", get(recording))
        .route("/r/{host}/{rec}/purge", post(purge))
        .route("/r/{host}/{rec}/cast", get(play_cast))
        .route("/r/{host}/{rec}/index.json", get(segmented_index))
        .route("/r/{host}/{rec}/seg/{n}", get(segment))
        .route("/r/{host}/{rec}/live", get(live))
        .route("/r/{host}/{rec}/export.cast", get(export_cast))
        .route("/r/{host}/{rec}/export.jsonl", get(export_jsonl))
        .route("/static/{name}", get(static_file))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .fallback(|| async { not_found() })
        .layer(Extension(state))
}

fn not_found() -> Response {
    let body = html::page(
        "Not found",
        None,
        "<h1>Not found</h1><p>No such page or recording.</p>",
        &[],
    );
    (StatusCode::NOT_FOUND, Html(body)).into_response()
}

struct Html(String);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], self.0).into_response()
    }
}

fn error(code: StatusCode, msg: &str) -> Response {
    let body = html::page(
        "Error",
        None,
        &format!("<h1>{}</h1><p>{}</p>", code.as_u16(), html::esc(msg)),
        &[],
    );
    (code, Html(body)).into_response()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    // Secure always: behind --insecure-http a TLS proxy faces the browser.
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Secure");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    HeaderValue::from_str(&c).expect("token cookies are ASCII")
}

fn who(s: &Session) -> html::Who<'_> {
    html::Who {
        user: &s.user,
        auditor: s.auditor,
        scoped: sees_others(s) && !s.auditor,
        csrf: &s.csrf,
    }
}

/// An auditor or a scoped auditor.
fn sees_others(s: &Session) -> bool {
    s.scope
        .as_ref()
        .is_none_or(|sc| !sc.hosts.is_empty() || !sc.groups.is_empty())
}

/// The session, or the response to give instead (a redirect to the login).
fn require(st: &State, headers: &HeaderMap) -> Result<(String, Session), Response> {
    cookie(headers, COOKIE)
        .and_then(|t| st.sessions.get(&t).map(|s| (t, s)))
        .ok_or_else(|| Redirect::to("/login").into_response())
}

/// Open the index in a blocking thread and run `f` on it.
async fn with_store<T: Send + 'static>(
    st: &State,
    f: impl FnOnce(&mut dyn Store) -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    let db = st.db.clone();
    match tokio::task::spawn_blocking(move || {
        let mut s = store::open(&db).map_err(|e| e.to_string())?;
        f(s.as_mut())
    })
    .await
    {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            syslog(&format!("index error: {e}"));
            Err(error(StatusCode::INTERNAL_SERVER_ERROR, "index error"))
        }
        Err(_) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")),
    }
}

// ---- login ----

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    csrf: String,
}

async fn login_form(Extension(st): Extension<S>, headers: HeaderMap) -> Response {
    if require(&st, &headers).is_ok() {
        return Redirect::to("/").into_response();
    }
    login_page(StatusCode::OK, None)
}

fn login_page(code: StatusCode, msg: Option<&str>) -> Response {
    let token = session::token();
    let mut r = (code, Html(pages::login(&token, msg))).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, Some(3600)),
    );
    r
}

async fn login(
    Extension(st): Extension<S>,
    Extension(Client(peer)): Extension<Client>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let ip = peer.ip();
    let mut password = f.password;
    let res = login_checked(&st, &headers, ip, &f.user, &password, &f.csrf).await;
    // Best effort: the form body and the helper's pipe held copies too.
    // SAFETY: zero bytes are valid UTF-8.
    unsafe { password.as_bytes_mut().fill(0) };
    res
}

async fn login_checked(
    st: &State,
    headers: &HeaderMap,
    ip: IpAddr,
    user: &str,
    password: &str,
    csrf: &str,
) -> Response {
    let expected = cookie(headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::same(&expected, csrf) {
        return error(StatusCode::FORBIDDEN, "CSRF token missing or wrong");
    }
    let user = user.trim();
    if user.is_empty() || user.len() > 256 || user.contains(|c: char| c.is_control()) {
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password."),
        );
    }
    if password.len() > 4096 || password.contains('\0') {
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password."),
        );
    }
    if !st.limiter.allowed(ip, user) {
        syslog(&format!(
            "login of {user:?} from {ip} refused: too many failures"
        ));
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed logins. Try again later."),
        );
    }
    let Ok(_permit) = st.helpers.acquire().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let res = auth::authenticate(&st.opts.auth_helper, user, password, &ip.to_string()).await;
    let canonical = match res {
        Ok(c) => c,
        Err(LoginError::Denied(why)) => {
            st.limiter.failed(ip, user);
            syslog(&format!("login of {user:?} from {ip} failed: {why}"));
            return login_page(
                StatusCode::UNAUTHORIZED,
                Some("Wrong user name or password."),
            );
        }
        Err(LoginError::Helper(why)) => {
            syslog(&format!("login of {user:?} from {ip}: helper error: {why}"));
            return error(StatusCode::INTERNAL_SERVER_ERROR, "login is not available");
        }
    };
    let name = canonical.clone();
    let groups = tokio::task::spawn_blocking(move || auth::groups(&name))
        .await
        .ok()
        .flatten();
    let Some(groups) = groups else {
        syslog(&format!(
            "login of {canonical:?} from {ip} refused: not known to NSS"
        ));
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("Wrong user name or password."),
        );
    };
    let access = Access::of(&canonical, &groups, &st.config);
    let role = if access.auditor {
        " (auditor)"
    } else if access.scoped() {
        " (scoped auditor)"
    } else {
        ""
    };
    let token = st.sessions.create(canonical.clone(), access);
    syslog(&format!("login of {canonical:?} from {ip}{role}"));
    let mut r = Redirect::to("/").into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(COOKIE, &token, None));
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0)));
    r
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    Extension(st): Extension<S>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let Some((token, s)) =
        cookie(&headers, COOKIE).and_then(|t| st.sessions.get(&t).map(|s| (t, s)))
    else {
        return error(StatusCode::FORBIDDEN, "not signed in");
    };
    if !session::same(&s.csrf, &f.csrf) {
        return error(StatusCode::FORBIDDEN, "CSRF token missing or wrong");
    }
    st.sessions.remove(&token);
    let mut r = Redirect::to("/login").into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(COOKIE, "", Some(0)));
    r
}

// ---- list ----

async fn list(
    Extension(st): Extension<S>,
    headers: HeaderMap,
    Query(f): Query<Filters>,
) -> Response {
    let (_, s) = match require(&st, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let parsed = f
        .query(&st.config, timewin::now_ms())
        .and_then(|q| f.order().map(|o| (q, o)));
    let (mut q, (sort, per)) = match parsed {
        Ok(v) => v,
        Err(e) => {
            let body = pages::list(&f, &[], 0, Some(&e), sees_others(&s));
            return (
                StatusCode::BAD_REQUEST,
                Html(html::page("Recordings", Some(&who(&s)), &body, &[])),
            )
                .into_response();
        }
    };
    // Not an auditor: own recordings and any scope, whatever the filters
    // say (the filters narrow it further).
    q.scope = s.scope.clone();
    // The database sorts and pages: only the rows shown are fetched.
    q.order = Some(sort);
    q.limit = Some(per);
    q.offset = f.page.unwrap_or(0).saturating_mul(per);
    let found = match with_store(&st, move |store| {
        store.search_page(&q).map_err(|e| e.to_string())
    })
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let body = pages::list(&f, &found.hits, found.total, None, sees_others(&s));
    Html(html::page("Recordings", Some(&who(&s)), &body, &[])).into_response()
}

// ---- one recording ----

/// The recording if this session may see it; 404 otherwise, the same
/// answer as for one that does not exist. The access is logged first:
/// no log, no access.
async fn visible(
    st: &State,
    s: &Session,
    peer: IpAddr,
    host: String,
    rec: String,
    action: &'static str,
) -> Result<(RecordingInfo, Vec<(i64, String)>), Response> {
    let (user, scope) = (s.user.clone(), s.scope.clone());
    let client = peer.to_string();
    let (h2, r2) = (host.clone(), rec.clone());
    let found = with_store(st, move |store| {
        let Some(info) = store.recording_info(&h2, &r2).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        if !acl::allows(scope.as_ref(), &info) {
            return Ok(None);
        }
        store
            .log_access(&AccessEntry {
                t_ms: timewin::now_ms(),
                who: user,
                client,
                action: action.into(),
                host: h2,
                rec: r2,
            })
            .map_err(|e| format!("access log: {e}"))?;
        let cmds = store.commands(info.key).map_err(|e| e.to_string())?;
        Ok(Some((info, cmds)))
    })
    .await?;
    match found {
        Some(v) => {
            syslog(&format!(
                "{action} of recording {rec} of host {host} by {:?} from {peer}",
                s.user
            ));
            Ok(v)
        }
        None => {
            syslog(&format!(
                "{action} of recording {rec:?} of host {host:?} by {:?} from {peer}: not found or not allowed",
                s.user
            ));
            Err(not_found())
        }
    }
}

/// The longest text to find in a recording.
const MAX_FIND: usize = 1000;

/// The recording page's own query: text to find in it.
#[derive(Deserialize)]
struct InRecording {
    q: Option<String>,
}

async fn recording(
    Extension(st): Extension<S>,
    Extension(Client(peer)): Extension<Client>,
    headers: HeaderMap,
    Path((host, rec)): Path<(String, String)>,
    Query(find): Query<InRecording>,
) -> Response {
    let (_, s) = match require(&st, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if find.q.as_ref().is_some_and(|q| q.len() > MAX_FIND) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("q: at most {MAX_FIND} bytes of text to find"),
        );
    }
    let (info, cmds) = match visible(&st, &s, peer.ip(), host, rec, "view").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // Keyframes: seek through segments; none (pipe mode, short sessions):
    // the whole asciicast.
    let (h, r, key) = (info.hit.host.clone(), info.hit.rec.clone(), info.key);
    let start = info.hit.start_ms;
    let q = find
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(String::from);
    let q2 = q.clone();
    let (segmented, trail, hits) = match with_store(&st, move |store| {
        let k = store.keyframes(&h, &r).map_err(|e| e.to_string())?;
        // A backend without audit events: no pane content, not an error.
        let trail = match store.audit() {
            Ok(a) => a.trail(key).map_err(|e| e.to_string())?,
            Err(_) => None,
        };
        // The index's text search, narrowed to this recording: its host
        // and start instant (there is no rec filter; the rest is dropped
        // below).
        let mut hits = match &q2 {
            Some(text) => store
                .search(&tlog_rs_index::store::Query {
                    host: Some(h),
                    since: Some(start),
                    until: Some(start + 1),
                    text: Some(text.clone()),
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|x| x.rec == r)
                .map(|x| x.matches)
                .unwrap_or_default(),
            None => vec![],
        };
        // Each hit from its text chunk's start to the output that draws
        // the phrase; unreadable messages leave the chunk starts.
        if let (Some(text), false) = (&q2, hits.is_empty()) {
            let refs = store.messages(key).map_err(|e| e.to_string())?;
            let mut lines = cast::Lines::new(refs);
            let msgs = std::iter::from_fn(|| lines.next_message()).map(|m| m.map(|(_, m)| m));
            let mut offsets: Vec<i64> = hits.iter().map(|m| m.offset_ms).collect();
            match cast::refine_hits(msgs, text, &mut offsets, CHUNK_MS as i64) {
                Ok(()) => {
                    for (m, o) in hits.iter_mut().zip(offsets) {
                        m.offset_ms = o;
                    }
                }
                Err(e) => syslog(&format!("search in recording {r}: {e}")),
            }
        }
        Ok((!k.is_empty(), trail, hits))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let find = q.as_deref().map(|q| (q, hits.as_slice()));
    let purge_csrf = s.can_purge.then_some(s.csrf.as_str());
    let body = pages::recording(&info, &cmds, segmented, trail.as_ref(), find, purge_csrf);
    let scripts = [
        "<link rel=\"stylesheet\" href=\"/static/asciinema-player.css\">",
        "<script src=\"/static/asciinema-player.min.js\"></script>",
        "<script type=\"module\" src=\"/static/recording.js\"></script>",
    ];
    Html(html::page(
        &format!("{} on {}", info.hit.user, info.hit.host),
        Some(&who(&s)),
        &body,
        &scripts,
    ))
    .into_response()
}

// ---- purge ----

#[derive(Deserialize)]
struct PurgeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// Archive and remove one recording now (tlog-rs-retention's `purge_one`,
/// which writes the access log row). Needs the purge right and the
/// recording in the session's scope; held recordings are refused.
async fn purge(
    Extension(st): Extension<S>,
    Extension(Client(peer)): Extension<Client>,
    headers: HeaderMap,
    Path((host, rec)): Path<(String, String)>,
    Form(f): Form<PurgeForm>,
) -> Response {
    let (_, s) = match require(&st, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !session::same(&s.csrf, &f.csrf) {
        return error(StatusCode::FORBIDDEN, "CSRF token missing or wrong");
    }
    let what = format!(
        "purge of recording {rec:?} of host {host:?} by {:?} from {peer}",
        s.user
    );
    if !s.can_purge {
        syslog(&format!("{what}: refused, no purge right"));
        return error(StatusCode::FORBIDDEN, "you may not purge recordings");
    }
    if f.confirm != "yes" {
        return error(StatusCode::BAD_REQUEST, "tick the box to confirm the purge");
    }
    let actor = Actor {
        who: s.user.clone(),
        client: peer.ip().to_string(),
    };
    let (scope, st2) = (s.scope.clone(), st.clone());
    let res = with_store(&st, move |store| {
        let info = store
            .recording_info(&host, &rec)
            .map_err(|e| e.to_string())?;
        if !info.is_some_and(|i| acl::allows(scope.as_ref(), &i)) {
            return Ok(Err(PurgeError::NotFound { host, rec }));
        }
        Ok(purge_one(store, &st2.config, &host, &rec, &actor))
    })
    .await;
    match res {
        Err(r) => r,
        Ok(Ok(p)) => {
            syslog(&what);
            Html(html::page(
                "Purged",
                Some(&who(&s)),
                &pages::purged(&p),
                &[],
            ))
            .into_response()
        }
        Ok(Err(e @ PurgeError::NotFound { .. })) => {
            syslog(&format!("{what}: {e}, or not allowed"));
            not_found()
        }
        Ok(Err(e @ PurgeError::Held { .. })) => {
            syslog(&format!("{what}: refused, {e}"));
            error(
                StatusCode::CONFLICT,
                "this recording is under legal hold: it is not purged",
            )
        }
        Ok(Err(e)) => {
            syslog(&format!("{what}: failed: {e}"));
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("purge failed: {e}"),
            )
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Cast,
    Jsonl,
}

/// What a streamed request is, as logged.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// The player's data.
    Play,
    ExportCast,
    ExportJsonl,
}

impl Kind {
    fn action(self) -> &'static str {
        match self {
            Kind::Play => "play",
            Kind::ExportCast => "export-cast",
            Kind::ExportJsonl => "export-jsonl",
        }
    }
    fn format(self) -> Format {
        match self {
            Kind::ExportJsonl => Format::Jsonl,
            _ => Format::Cast,
        }
    }
}

async fn stream(
    st: S,
    headers: HeaderMap,
    peer: IpAddr,
    host: String,
    rec: String,
    kind: Kind,
) -> Response {
    let (fmt, download) = (kind.format(), kind != Kind::Play);
    let (_, s) = match require(&st, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (info, _) = match visible(&st, &s, peer, host, rec, kind.action()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let key = info.key;
    // The references in batches, so that memory does not grow with the
    // recording (a 1 GB recording has ~500,000 of them).
    let refs = match with_store(&st, move |store| {
        store
            .messages_in(key, 0, u64::MAX, STREAM_BATCH)
            .map_err(|e| e.to_string())
    })
    .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    let db = st.db.clone();
    // A bounded channel: the reader waits for the browser, so memory stays
    // at a few messages whatever the recording's size.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let title = format!("{} on {} ({})", info.hit.user, info.hit.host, info.hit.rec);
    tokio::task::spawn_blocking(move || {
        let mut next = next_batch(&refs);
        let mut lines = cast::Lines::new(refs);
        let mut c = cast::Cast::new(title);
        let mut store = None;
        loop {
            let Some(m) = lines.next_message() else {
                let Some(from) = next else { break };
                let batch = store
                    .get_or_insert_with(|| store::open(&db))
                    .as_mut()
                    .map_err(|e| e.to_string())
                    .and_then(|s| {
                        s.messages_in(key, from, u64::MAX, STREAM_BATCH)
                            .map_err(|e| e.to_string())
                    });
                match batch {
                    Ok(b) => {
                        next = next_batch(&b);
                        lines.refill(b);
                        continue;
                    }
                    Err(e) => {
                        syslog(&format!("streaming: index error: {e}"));
                        let _ = tx.blocking_send(Err(std::io::Error::other(e)));
                        return;
                    }
                }
            };
            let chunk = match m {
                Ok((mut raw, msg)) => match fmt {
                    Format::Cast => c.push(&msg),
                    Format::Jsonl => {
                        raw.push(b'\n');
                        raw
                    }
                },
                Err(e) => {
                    syslog(&format!("streaming: {e}"));
                    let _ = tx.blocking_send(Err(std::io::Error::other(e)));
                    return;
                }
            };
            if !chunk.is_empty() && tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return;
            }
        }
        if fmt == Format::Cast {
            let _ = tx.blocking_send(Ok(Bytes::from(c.finish())));
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mime = match fmt {
        Format::Cast => "application/x-asciicast",
        Format::Jsonl => "application/jsonl",
    };
    let mut r = ([(header::CONTENT_TYPE, mime)], body).into_response();
    if download {
        let ext = if fmt == Format::Cast { "cast" } else { "jsonl" };
        let name: String = format!("{}-{}.{ext}", info.hit.host, info.hit.rec)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
    }
    r
}

/// References read from the index at a time while streaming.
const STREAM_BATCH: usize = 4096;

/// Where the batch after `refs` starts; None when `refs` was the last.
fn next_batch(refs: &[(MessageRef, String)]) -> Option<u64> {
    if refs.len() < STREAM_BATCH {
        return None;
    }
    refs.last().map(|(m, _)| m.id + 1)
}

async fn play_cast(
    Extension(st): Extension<S>,
    Extension(Client(peer)): Extension<Client>,
    headers: HeaderMap,
    Path((host, rec)): Path<(String, String)>,
) -> Response {
    stream(st, headers, peer.ip(), host, rec, Kind::Play).await
}

async fn export_cast(
    Extension(st): Extension<S>,
    Extension(Client(peer)): Extension<Client>,
    headers: HeaderMap,
    Path((host, rec)): Path<(String, String)>,
) -> Response {
    stream(st, headers, peer.ip(), host, rec, Kind::ExportCast).await
}

async fn export_jsonl(
    Extension(st): Extension<S>,
    Extension(Client(peer)): Extension<Client>,
    headers: HeaderMap,
    Path((host, rec)): Path<(String, String)>,
) -> Response {
    stream(st, headers, peer.ip(), host, rec, Kind::ExportJsonl).await
}

// ---- keyframe seek: asciinema-player's "segmented" source ----

/// What the index and each segment are computed from, the same way for both.
/// The keyframes come without their screens: a segment reads its own.
struct Segments {
    plan: Vec<cast::SegmentPlan>,
    keyframes: Vec<Keyframe>,
    duration_ms: u64,
}

fn segments(
    store: &mut dyn Store,
    info: &RecordingInfo,
    cmds: &[(i64, String)],
) -> Result<Segments, String> {
    let keyframes = store
        .keyframe_index(&info.hit.host, &info.hit.rec)
        .map_err(|e| e.to_string())?;
    // The first window size, from the first message.
    let first = store
        .messages_in(info.key, 0, u64::MAX, 1)
        .map_err(|e| e.to_string())?;
    let mut size = (80, 24);
    if !first.is_empty() {
        if let Some(Ok((_, m))) = cast::Lines::new(first).next_message() {
            if let Some((c, r)) = m.decode().0.iter().find_map(|p| match p.data {
                tlog_rs_format::PacketData::Window { cols, rows } if cols > 0 && rows > 0 => {
                    Some((cols, rows))
                }
                _ => None,
            }) {
                size = (c, r);
            }
        }
    }
    let duration_ms = [
        info.hit.end_ms - info.hit.start_ms,
        cmds.last().map_or(0, |c| c.0),
        keyframes.last().map_or(0, |k| k.t_ms + 2),
        1,
    ]
    .into_iter()
    .max()
    .unwrap_or(1)
    .max(1) as u64;
    Ok(Segments {
        plan: cast::plan(&keyframes, size, duration_ms),
        keyframes,
        duration_ms,
    })
}

async fn segmented_index(
    Extension(st): Extension<S>,
    Extension(Client(peer)): Extension<Client>,
    headers: HeaderMap,
    Path((host, rec)): Path<(String, String)>,
) -> Response {
    let (token, s) = match require(&st, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (info, cmds) = match visible(&st, &s, peer.ip(), host.clone(), rec.clone(), "play").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let index = match with_store(&st, move |store| {
        let sg = segments(store, &info, &cmds)?;
        let d = sg.duration_ms;
        let segs: Vec<serde_json::Value> = sg
            .plan
            .iter()
            .enumerate()
            .map(|(i, p)| serde_json::json!({"start": p.start_ms as f64 / 1000.0, "url": format!("seg/{i}")}))
            .collect();
        let markers: Vec<serde_json::Value> = cmds
            .iter()
            .map(|(t, text)| {
                let label: String = text.chars().take(60).collect();
                serde_json::json!([(*t).clamp(0, d as i64) as f64 / 1000.0, label])
            })
            .collect();
        Ok(serde_json::json!({
            "version": 1,
            "duration": d as f64 / 1000.0,
            "term": {"cols": sg.plan[0].cols, "rows": sg.plan[0].rows},
            "segments": segs,
            "markers": markers,
        }))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    st.sessions.start_playing(&token, &host, &rec);
    json(index)
}

fn json(v: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn segment(
    Extension(st): Extension<S>,
    headers: HeaderMap,
    Path((host, rec, n)): Path<(String, String, String)>,
) -> Response {
    let (_, s) = match require(&st, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    // Only for a playback this session started (ACL checked and logged then).
    let Ok(n) = n.parse::<usize>() else {
        return not_found();
    };
    if !s.playing.contains(&(host.clone(), rec.clone())) {
        return not_found();
    }
    let seg = with_store(&st, move |store| {
        let Some(info) = store
            .recording_info(&host, &rec)
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let cmds = store.commands(info.key).map_err(|e| e.to_string())?;
        let sg = segments(store, &info, &cmds)?;
        let Some(mut b) = cast::SegmentBuilder::new(&sg.plan, n, sg.duration_ms) else {
            return Ok(None);
        };
        // Only this segment's messages: a long recording has millions.
        let refs = store
            .messages_in(
                info.key,
                b.first_id(),
                b.last_id().unwrap_or(u64::MAX),
                usize::MAX,
            )
            .map_err(|e| e.to_string())?;
        let mut lines = cast::Lines::new(refs);
        while !b.done() {
            match lines.next_message() {
                Some(Ok((_, m))) => b.push(&m),
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        let p = &sg.plan[n];
        let init = match p.keyframe.and_then(|k| sg.keyframes.get(k)) {
            Some(k) => store
                .keyframe_screen(&host, &rec, k.msg_id, k.packet)
                .map_err(|e| e.to_string())?
                .map(|s| String::from_utf8_lossy(&s).into_owned())
                .unwrap_or_default(),
            None => String::new(),
        };
        Ok(Some(b.finish((p.cols, p.rows, init))))
    })
    .await;
    match seg {
        Ok(Some(v)) => json(v),
        Ok(None) => not_found(),
        Err(r) => r,
    }
}

// ---- follow of a live recording ----

/// How often a follow looks for new messages in the index.
const FOLLOW_POLL: Duration = Duration::from_secs(1);

/// One poll of a follow: the recording's new messages fed to `live`.
/// None when the recording is gone or out of scope; else whether it has
/// ended (an end entry was indexed).
fn follow_step(
    store: &mut dyn Store,
    host: &str,
    rec: &str,
    scope: Option<&store::Scope>,
    live: &mut Option<cast::Live>,
) -> Result<Option<bool>, String> {
    let Some(info) = store.recording_info(host, rec).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    if !acl::allows(scope, &info) {
        return Ok(None);
    }
    if live.is_none() {
        // The first poll starts from the last keyframe's screen.
        let k = store.keyframes(host, rec).map_err(|e| e.to_string())?;
        *live = Some(cast::Live::new(k.last(), (80, 24)));
    }
    let l = live.as_mut().expect("set above");
    let from = l.last_id().unwrap_or(0);
    let refs = store
        .messages_in(info.key, from, u64::MAX, usize::MAX)
        .map_err(|e| e.to_string())?;
    let mut lines = cast::Lines::new(refs);
    while let Some(m) = lines.next_message() {
        l.push(&m?.1);
    }
    Ok(Some(info.hit.state == store::State::Complete))
}

/// Server-sent events for asciinema-player's "eventsource" driver: the
/// screen so far, then the output the index gets, polled every second,
/// until the recording ends, the session ends or the browser goes away.
/// Same scope as the other recording URLs (404), logged once as `follow`.
async fn live(
    Extension(st): Extension<S>,
    Extension(Client(peer)): Extension<Client>,
    headers: HeaderMap,
    Path((host, rec)): Path<(String, String)>,
) -> Response {
    let (token, s) = match require(&st, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = visible(&st, &s, peer.ip(), host.clone(), rec.clone(), "follow").await {
        return r;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let scope = s.scope.clone();
    tokio::spawn(async move {
        let mut live: Option<cast::Live> = None;
        let mut first = true;
        loop {
            // Sign-out or expiry ends the follow.
            if !st.sessions.alive(&token) {
                return;
            }
            let (h, r, sc) = (host.clone(), rec.clone(), scope.clone());
            let mut l = live.take();
            let step = with_store(&st, move |store| {
                let res = follow_step(store, &h, &r, sc.as_ref(), &mut l);
                Ok((res, l))
            })
            .await;
            let ended = match step {
                Ok((Ok(Some(ended)), l)) => {
                    live = l;
                    ended
                }
                Ok((Ok(None), _)) => return,
                Ok((Err(e), _)) => {
                    syslog(&format!("follow of recording {rec}: {e}"));
                    return;
                }
                Err(_) => return,
            };
            let mut out = String::new();
            if let Some(l) = live.as_mut() {
                if first {
                    out.push_str(&format!("data: {}\n\n", l.take_reset()));
                    first = false;
                } else {
                    for e in l.take_events() {
                        out.push_str(&format!("data: {e}\n\n"));
                    }
                }
            }
            if ended {
                out.push_str("event: done\ndata: \n\n");
            }
            if out.is_empty() {
                // A comment: finds a browser that went away.
                out.push_str(": poll\n\n");
            }
            if tx.send(Ok(Bytes::from(out))).await.is_err() || ended {
                return;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

// ---- access log ----

/// Rows shown on the access log page, and rows read to find them for a
/// scoped auditor.
const ACCESS_ROWS: usize = 1000;
const ACCESS_SCAN: usize = 20_000;

async fn access_log(Extension(st): Extension<S>, headers: HeaderMap) -> Response {
    let (_, s) = match require(&st, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !sees_others(&s) {
        return not_found();
    }
    // Scoped auditors: the rows about recordings in their scope (rows of
    // purged recordings only full auditors see).
    let scope = s.scope.clone();
    let rows = match with_store(&st, move |store| {
        let Some(scope) = scope else {
            return store.access_log(ACCESS_ROWS).map_err(|e| e.to_string());
        };
        let mut seen: HashMap<(String, String), bool> = HashMap::new();
        let mut rows = store.access_log(ACCESS_SCAN).map_err(|e| e.to_string())?;
        let mut keep = Vec::with_capacity(rows.len());
        for r in rows.drain(..) {
            let key = (r.host.clone(), r.rec.clone());
            let ok = match seen.get(&key) {
                Some(&ok) => ok,
                None => {
                    let ok = store
                        .recording_info(&r.host, &r.rec)
                        .map_err(|e| e.to_string())?
                        .is_some_and(|i| acl::allows(Some(&scope), &i));
                    seen.insert(key, ok);
                    ok
                }
            };
            if ok {
                keep.push(r);
                if keep.len() == ACCESS_ROWS {
                    break;
                }
            }
        }
        Ok(keep)
    })
    .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    let body = pages::access_log(&rows);
    Html(html::page("Access log", Some(&who(&s)), &body, &[])).into_response()
}

async fn static_file(Path(name): Path<String>) -> Response {
    match assets::get(&name) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.mime),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            a.body,
        )
            .into_response(),
        None => not_found(),
    }
}
