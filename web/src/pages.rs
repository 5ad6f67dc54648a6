//! The HTML of each page.

use std::fmt::Write;

use serde::Deserialize;
use tlog_rs_index::audit::event::sockaddr_text;
use tlog_rs_index::audit::show;
use tlog_rs_index::audit::store::Trail;
use tlog_rs_index::config::Config;
use tlog_rs_index::store::{AccessEntry, Hit, Match, Query, RecordingInfo, Sort, SortKey, State};
use tlog_rs_index::timewin::{self, short_time, Zone};
use tlog_rs_retention::Purged;

use crate::html::{duration, esc, url};

pub const PER_PAGE: usize = 50;
/// The largest `per` a URL may ask for.
pub const MAX_PER_PAGE: usize = 500;

/// The order a click on `key`'s header asks for: the other direction of
/// the current column; a new column starts with the newest or longest
/// first, names from A.
fn clicked(sort: Sort, key: SortKey) -> Sort {
    if key == sort.key {
        Sort {
            key,
            desc: !sort.desc,
        }
    } else {
        Sort {
            key,
            desc: matches!(key, SortKey::Start | SortKey::Duration),
        }
    }
}

/// The list's filters, as in the URL query (the same as `tlog-rs search`).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    pub user: Option<String>,
    pub group: Option<String>,
    pub host: Option<String>,
    pub hostgroup: Option<String>,
    pub service: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub text: Option<String>,
    pub command: Option<String>,
    pub admin: Option<String>,
    pub incomplete: Option<String>,
    pub page: Option<usize>,
    /// `sort=KEY` or `sort=-KEY` ([`Sort`]).
    pub sort: Option<String>,
    /// Rows per page (default [`PER_PAGE`]).
    pub per: Option<usize>,
}

fn set(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

impl Filters {
    /// The index query; times are UTC.
    pub fn query(&self, config: &Config, now_ms: i64) -> Result<Query, String> {
        let mut q = Query {
            user: set(&self.user),
            group: set(&self.group),
            host: set(&self.host),
            service: set(&self.service),
            text: set(&self.text),
            command: set(&self.command),
            incomplete: set(&self.incomplete).is_some(),
            ..Query::default()
        };
        if let Some(g) = set(&self.hostgroup) {
            q.hosts = Some(config.hostgroup(&g)?.to_vec());
        }
        if set(&self.admin).is_some() {
            q.admin = Some((config.admin.groups.clone(), config.admin.services.clone()));
        }
        let (lo, hi) = timewin::window(
            set(&self.since).as_deref(),
            set(&self.until).as_deref(),
            None,
            Zone::Utc,
            now_ms,
        )
        .map_err(|e| e.to_string())?;
        q.since = lo;
        q.until = hi;
        Ok(q)
    }

    /// The order and page size asked for.
    pub fn order(&self) -> Result<(Sort, usize), String> {
        let sort = match set(&self.sort) {
            Some(s) => s.parse()?,
            None => Sort::default(),
        };
        let per = self.per.unwrap_or(PER_PAGE);
        if per == 0 || per > MAX_PER_PAGE {
            return Err(format!(
                "per: {per} rows per page; give 1 to {MAX_PER_PAGE}"
            ));
        }
        Ok((sort, per))
    }

    /// The query string of these filters on another page.
    fn href(&self, page: usize) -> String {
        let sort = self.order().map(|o| o.0).unwrap_or_default();
        self.href_sorted(page, sort)
    }

    /// The query string of these filters in another order, on a page.
    fn href_sorted(&self, page: usize, sort: Sort) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("user", &self.user),
            ("group", &self.group),
            ("host", &self.host),
            ("hostgroup", &self.hostgroup),
            ("service", &self.service),
            ("since", &self.since),
            ("until", &self.until),
            ("text", &self.text),
            ("command", &self.command),
            ("admin", &self.admin),
            ("incomplete", &self.incomplete),
        ] {
            if let Some(v) = set(v) {
                parts.push(format!("{k}={}", url(&v)));
            }
        }
        if sort != Sort::default() {
            parts.push(format!("sort={}", url(&sort.to_string())));
        }
        if let Some(p) = self.per.filter(|p| *p != PER_PAGE) {
            parts.push(format!("per={p}"));
        }
        if page > 0 {
            parts.push(format!("page={page}"));
        }
        format!("/?{}", parts.join("&"))
    }
}

fn badge(state: State) -> &'static str {
    match state {
        State::Complete => "",
        State::Incomplete => "<span class=\"badge incomplete\">incomplete</span>",
        State::Tampered => "<span class=\"badge tampered\">tampered</span>",
    }
}

fn rec_href(host: &str, rec: &str) -> String {
    format!("/r/{}/{}", url(host), url(rec))
}

pub fn list(f: &Filters, hits: &[Hit], total: usize, err: Option<&str>, auditor: bool) -> String {
    let mut o = String::new();
    o.push_str("<h1>Recordings</h1><form id=\"filters\" method=\"get\" action=\"/\">");
    let field = |o: &mut String, name: &str, label: &str, v: &Option<String>, hint: &str| {
        let _ = write!(
            o,
            "<label>{label} <input name=\"{name}\" value=\"{}\" placeholder=\"{hint}\"></label>",
            esc(v.as_deref().unwrap_or(""))
        );
    };
    if auditor {
        field(&mut o, "user", "User", &f.user, "name");
    }
    field(&mut o, "group", "Group", &f.group, "at login");
    field(&mut o, "host", "Host", &f.host, "name or FQDN");
    field(&mut o, "hostgroup", "Host group", &f.hostgroup, "");
    field(&mut o, "service", "Service", &f.service, "sshd, sudo…");
    field(&mut o, "since", "Since", &f.since, "-7d, 2026-11-28…");
    field(&mut o, "until", "Until", &f.until, "now");
    field(&mut o, "text", "Text", &f.text, "on screen");
    field(&mut o, "command", "Command", &f.command, "typed");
    let check = |o: &mut String, name: &str, label: &str, v: &Option<String>| {
        let _ = write!(
            o,
            "<label><input type=\"checkbox\" name=\"{name}\" value=\"1\"{}> {label}</label>",
            if set(v).is_some() { " checked" } else { "" }
        );
    };
    check(&mut o, "admin", "administrative", &f.admin);
    check(&mut o, "incomplete", "incomplete only", &f.incomplete);
    // A new search keeps the order and page size.
    if let Some(v) = set(&f.sort) {
        let _ = write!(
            o,
            "<input type=\"hidden\" name=\"sort\" value=\"{}\">",
            esc(&v)
        );
    }
    if let Some(p) = f.per {
        let _ = write!(o, "<input type=\"hidden\" name=\"per\" value=\"{p}\">");
    }
    o.push_str("<button>Search</button></form>");
    if let Some(e) = err {
        let _ = write!(o, "<p class=\"error\">{}</p>", esc(e));
        return o;
    }
    let page = f.page.unwrap_or(0);
    let (sort, per) = f.order().unwrap_or((Sort::default(), PER_PAGE));
    let pages = total.div_ceil(per).max(1);
    let _ = write!(
        o,
        "<p id=\"count\">{total} recording{} (times in UTC)</p>",
        if total == 1 { "" } else { "s" }
    );
    // Sortable headers: links to the same query in the clicked order.
    let th = |key: SortKey, label: &str| {
        let (cls, arrow) = match (sort.key == key, sort.desc) {
            (true, true) => (" class=\"sorted desc\"", " ▼"),
            (true, false) => (" class=\"sorted asc\"", " ▲"),
            _ => ("", ""),
        };
        format!(
            "<th{cls}><a data-sort=\"{key}\" href=\"{}\">{label}{arrow}</a></th>",
            esc(&f.href_sorted(0, clicked(sort, key)))
        )
    };
    let _ = write!(
        o,
        "<table id=\"recordings\"><thead><tr>{}{}{}<th>Service</th>{}<th>State</th><th>Matches</th></tr></thead><tbody>",
        th(SortKey::Start, "Start"),
        th(SortKey::Host, "Host"),
        th(SortKey::User, "User"),
        th(SortKey::Duration, "Duration"),
    );
    for h in hits {
        let matches: Vec<String> = h
            .matches
            .iter()
            .take(3)
            .map(|m| {
                format!(
                    "<a href=\"{}#t={}\">{} {}</a>",
                    rec_href(&h.host, &h.rec),
                    m.offset_ms as f64 / 1000.0,
                    duration(m.offset_ms),
                    esc(&m.snippet)
                )
            })
            .collect();
        let _ = write!(
            o,
            "<tr class=\"rec\" data-rec=\"{}\" data-user=\"{}\" data-host=\"{}\" data-start=\"{}\" data-duration=\"{}\"><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"matches\">{}</td></tr>",
            esc(&h.rec),
            esc(&h.user),
            esc(&h.host),
            h.start_ms,
            h.end_ms - h.start_ms,
            rec_href(&h.host, &h.rec),
            short_time(h.start_ms, Zone::Utc),
            esc(&h.host),
            esc(&h.user),
            esc(h.service.as_deref().unwrap_or("")),
            duration(h.end_ms - h.start_ms),
            badge(h.state),
            matches.join("<br>")
        );
    }
    o.push_str("</tbody></table><nav class=\"pages\">");
    if page > 0 {
        let _ = write!(
            o,
            "<a rel=\"prev\" href=\"{}\">← previous</a> ",
            esc(&f.href(page - 1))
        );
    }
    let _ = write!(o, "<span id=\"page\">page {} of {pages}</span>", page + 1);
    if (page + 1) * per < total {
        let _ = write!(
            o,
            " <a rel=\"next\" href=\"{}\">next →</a>",
            esc(&f.href(page + 1))
        );
    }
    o.push_str("</nav>");
    o
}

/// Below the player: a frame step back and forward (pauses first; the
/// player's `,` and `.` keys do the same), and the speed, 1/16x to 16x
/// (recording.js re-creates the player at the same time: the player takes
/// its speed only when created).
const PLAYER_CONTROLS: &str = "<div id=\"controls\">\
<button type=\"button\" id=\"step-back\" title=\"Pause and step back one frame (,)\">&#9664; frame</button> \
<button type=\"button\" id=\"step-fwd\" title=\"Pause and step forward one frame (.)\">frame &#9654;</button> \
<label>Speed <select id=\"speed\">\
<option value=\"0.0625\">1/16x</option><option value=\"0.125\">1/8x</option>\
<option value=\"0.25\">1/4x</option><option value=\"0.5\">1/2x</option>\
<option value=\"1\" selected>1x</option><option value=\"2\">2x</option>\
<option value=\"4\">4x</option><option value=\"8\">8x</option>\
<option value=\"16\">16x</option></select></label></div>";

pub fn recording(
    info: &RecordingInfo,
    commands: &[(i64, String)],
    segmented: bool,
    trail: Option<&Trail>,
    find: Option<(&str, &[Match])>,
    purge_csrf: Option<&str>,
) -> String {
    let h = &info.hit;
    let base = rec_href(&h.host, &h.rec);
    let mut o = String::new();
    let _ = write!(
        o,
        "<h1>{} on {} {}</h1><dl class=\"meta\"><dt>Start</dt><dd>{} UTC</dd><dt>Duration</dt><dd>{}</dd><dt>Service</dt><dd>{}</dd><dt>From</dt><dd>{}</dd><dt>Terminal</dt><dd>{} {}</dd><dt>Groups</dt><dd>{}</dd><dt>Recording</dt><dd><code>{}</code></dd></dl>",
        esc(&h.user),
        esc(&h.host),
        badge(h.state),
        short_time(h.start_ms, Zone::Utc),
        duration(h.end_ms - h.start_ms),
        esc(h.service.as_deref().unwrap_or("-")),
        esc(info.rhost.as_deref().unwrap_or("-")),
        esc(info.tty.as_deref().unwrap_or("-")),
        esc(info.term.as_deref().unwrap_or("")),
        esc(&info.groups.join(", ")),
        esc(&h.rec),
    );
    let _ = write!(
        o,
        "<div class=\"recording\"><div><div id=\"player\" {}{}></div>{PLAYER_CONTROLS}{}</div><aside>{}<h2>Input</h2><p class=\"note\">The lines typed (recorded input), apart from the screen: a click seeks the player there.</p><ol id=\"commands\">",
        if segmented {
            format!("data-index=\"{base}/index.json\"")
        } else {
            format!("data-cast=\"{base}/cast\"")
        },
        // Without its end entry the session may still be running.
        if h.state == State::Incomplete {
            format!(" data-live=\"{base}/live\"")
        } else {
            String::new()
        },
        if h.state == State::Incomplete {
            "<p id=\"follow-bar\"><button type=\"button\" id=\"follow\">Follow</button> <span id=\"follow-state\">not following: the recording has no end yet</span></p>"
        } else {
            ""
        },
        find_in_recording(&base, find)
    );
    for (i, (t, text)) in commands.iter().enumerate() {
        let _ = write!(
            o,
            "<li><button type=\"button\" data-t=\"{}\" data-cmd=\"{i}\"><span class=\"t\">{}</span> <code>{}</code></button></li>",
            *t as f64 / 1000.0,
            offset(*t),
            esc(text)
        );
    }
    if commands.is_empty() {
        o.push_str(
            "<li class=\"none\">No input was recorded (log_input off, or nothing typed).</li>",
        );
    }
    o.push_str("</ol>");
    audit_pane(&mut o, h.start_ms, commands, trail);
    let _ = write!(
        o,
        "<h2>Export</h2><p><a id=\"export-jsonl\" href=\"{base}/export.jsonl\">tlog JSON Lines</a> · <a id=\"export-cast\" href=\"{base}/export.cast\">asciicast v2</a></p>"
    );
    if let Some(csrf) = purge_csrf {
        purge_form(&mut o, &base, csrf);
    }
    o.push_str("</aside></div>");
    o
}

/// For sessions with the purge right: archive and remove the recording now.
/// The box to tick is the confirmation (no script: the CSP forbids inline).
fn purge_form(o: &mut String, base: &str, csrf: &str) {
    let _ = write!(
        o,
        "<h2>Purge</h2><form id=\"purge\" method=\"post\" action=\"{base}/purge\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> archive and remove this recording from the stores and the index</label> <button>Purge</button></form><p class=\"note\" id=\"purge-journal\">JSON Lines files are rewritten without it and Elasticsearch deletes it; journal files are append-only and are not edited: the result names those that still hold it until journald rotates them away.</p>",
        esc(csrf)
    );
}

/// The answer to a purge: what was archived and removed where.
pub fn purged(p: &Purged) -> String {
    let mut o = format!(
        "<h1>Purged</h1><p id=\"purged\">Recording <code>{}</code> of host {} was purged.</p><ul>",
        esc(&p.rec),
        esc(&p.host)
    );
    match &p.archive {
        Some(a) => {
            let _ = write!(
                o,
                "<li>archived to <code>{}</code></li>",
                esc(&a.display().to_string())
            );
        }
        None => o.push_str(
            "<li>not archived (no retention.archive_dir, or every retention rule of the recording says archive = false)</li>",
        ),
    }
    for a in &p.sources {
        let _ = write!(o, "<li>{}</li>", esc(&a.to_string()));
    }
    o.push_str("</ul><p><a href=\"/\">Recordings</a></p>");
    o
}

/// The search box of the recording page and its hits (the index's text
/// search: each hit is the start of the text chunk that shows the phrase);
/// recording.js seeks the player on a click.
fn find_in_recording(base: &str, find: Option<(&str, &[Match])>) -> String {
    let mut o = format!(
        "<form id=\"rec-search\" method=\"get\" action=\"{base}\"><label>Find in this recording <input name=\"q\" value=\"{}\" placeholder=\"text on screen\"></label> <button>Find</button></form>",
        esc(find.map_or("", |f| f.0))
    );
    let Some((_, hits)) = find else { return o };
    if hits.is_empty() {
        o.push_str("<p id=\"hits-none\" class=\"none\">Not found.</p>");
        return o;
    }
    o.push_str("<ol id=\"hits\">");
    for m in hits {
        let _ = write!(
            o,
            "<li><button type=\"button\" data-t=\"{}\"><span class=\"t\">{}</span> <code>{}</code></button></li>",
            m.offset_ms as f64 / 1000.0,
            duration(m.offset_ms),
            esc(&m.snippet)
        );
    }
    o.push_str("</ol>");
    o
}

/// `+1.234s` / `-0.500s` from the recording's start.
fn offset(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "+" };
    format!("{sign}{}.{:03}s", ms.abs() / 1000, ms.abs() % 1000)
}

/// An event's offset; inside the recording, a button that seeks there.
fn seek_at(ms: i64) -> String {
    if ms < 0 {
        format!("<span class=\"t\">{}</span>", offset(ms))
    } else {
        format!(
            "<button type=\"button\" class=\"t seek\" data-t=\"{}\">{}</button>",
            ms as f64 / 1000.0,
            offset(ms)
        )
    }
}

/// At most this many rows per list, so a busy session's page stays small.
const AUDIT_ROWS: usize = 200;

/// The audit pane (what `tlog-rs show --audit` prints), split by input
/// line: each command's processes, files and sockets, and the failed
/// logins before the session. recording.js shows one command's trail when
/// the command is selected.
fn audit_pane(o: &mut String, start_ms: i64, commands: &[(i64, String)], trail: Option<&Trail>) {
    o.push_str("<section id=\"audit\"><h2>Audit trail</h2>");
    let Some(t) = trail else {
        o.push_str(
            "<p class=\"none\">No audit events are correlated with this recording.</p></section>",
        );
        return;
    };
    let _ = write!(
        o,
        "<p id=\"audit-summary\">{} event{}, joined by {}; {} failed login{} before the session.</p>",
        t.events.len(),
        if t.events.len() == 1 { "" } else { "s" },
        esc(t.join.as_str()),
        t.auth_failures,
        if t.auth_failures == 1 { "" } else { "s" },
    );
    let failed = show::failed_logins(t);
    if !failed.is_empty() {
        o.push_str("<h3>Failed logins before the session</h3><ul id=\"login-failures\">");
        for e in failed.iter().take(AUDIT_ROWS) {
            let _ = write!(
                o,
                "<li><span class=\"t\">{}</span> {}</li>",
                offset(e.t_ms - start_ms),
                esc(&e.describe())
            );
        }
        o.push_str("</ul>");
    }
    o.push_str("<p><button type=\"button\" id=\"audit-all\" hidden>Show every command</button></p><div id=\"trails\">");
    for g in show::by_command(start_ms, commands, t) {
        let (key, title) = match g.input {
            Some(i) => (
                i.to_string(),
                format!(
                    "<span class=\"t\">{}</span> <code>{}</code>",
                    duration(commands[i].0),
                    esc(&commands[i].1)
                ),
            ),
            None if commands.is_empty() => ("start".to_string(), "The session".to_string()),
            None => ("start".to_string(), "Before the first command".to_string()),
        };
        let _ = write!(
            o,
            "<div class=\"trail\" data-cmd=\"{key}\"><h3>{title}</h3>"
        );
        if g.processes.is_empty() && g.files.is_empty() && g.sockets.is_empty() {
            o.push_str("<p class=\"none\">No audited activity.</p></div>");
            continue;
        }
        if !g.processes.is_empty() {
            o.push_str("<h4>Processes</h4><ul class=\"procs\">");
            for (e, status) in g.processes.iter().take(AUDIT_ROWS) {
                let _ = write!(
                    o,
                    "<li>{} <code class=\"argv\">{}</code> in <code class=\"cwd\">{}</code> exit {} <span class=\"pid\">pid {}</span></li>",
                    seek_at(e.t_ms - start_ms),
                    esc(&show::command_line(e)),
                    esc(e.cwd.as_deref().unwrap_or("?")),
                    status.map_or("?".into(), |s| s.to_string()),
                    e.pid.unwrap_or(-1)
                );
            }
            o.push_str("</ul>");
        }
        if !g.files.is_empty() {
            o.push_str("<h4>Files</h4><ul class=\"files\">");
            for (nt, name, cwd, comm) in g.files.iter().take(AUDIT_ROWS) {
                let _ = write!(
                    o,
                    "<li>{} <code class=\"path\">{}</code>{} [{}]</li>",
                    esc(nt),
                    esc(name),
                    cwd.as_deref()
                        .map(|c| format!(" in <code>{}</code>", esc(c)))
                        .unwrap_or_default(),
                    esc(comm)
                );
            }
            o.push_str("</ul>");
        }
        if !g.sockets.is_empty() {
            o.push_str("<h4>Sockets</h4><ul class=\"sockets\">");
            for e in g.sockets.iter().take(AUDIT_ROWS) {
                let _ = write!(
                    o,
                    "<li>{} <code class=\"addr\">{}</code> [{} pid {}]{}</li>",
                    seek_at(e.t_ms - start_ms),
                    esc(&sockaddr_text(e.sockaddr.as_ref())),
                    esc(e.comm.as_deref().unwrap_or("?")),
                    e.pid.unwrap_or(-1),
                    if e.success == Some(false) {
                        " failed"
                    } else {
                        ""
                    }
                );
            }
            o.push_str("</ul>");
        }
        o.push_str("</div>");
    }
    o.push_str("</div></section>");
}

pub fn login(csrf: &str, msg: Option<&str>) -> String {
    let mut o = String::from("<h1>Sign in</h1>");
    if let Some(m) = msg {
        let _ = write!(o, "<p class=\"error\" id=\"login-error\">{}</p>", esc(m));
    }
    let _ = write!(
        o,
        "<form id=\"login\" method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label>User <input name=\"user\" autocomplete=\"username\" required></label><label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label><button>Sign in</button></form>",
        esc(csrf)
    );
    crate::html::page("Sign in", None, &o, &[])
}

pub fn access_log(rows: &[AccessEntry]) -> String {
    let mut o = String::from(
        "<h1>Access log</h1><table id=\"access\"><thead><tr><th>Time (UTC)</th><th>Who</th><th>From</th><th>Action</th><th>Host</th><th>Recording</th></tr></thead><tbody>",
    );
    for r in rows {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"{}\">{}</a></td></tr>",
            short_time(r.t_ms, Zone::Utc),
            esc(&r.who),
            esc(&r.client),
            esc(&r.action),
            esc(&r.host),
            rec_href(&r.host, &r.rec),
            esc(&r.rec)
        );
    }
    o.push_str("</tbody></table>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_make_the_search_query_and_keep_the_url() {
        let f = Filters {
            user: Some("jdoe".into()),
            host: Some(" ".into()),
            since: Some("2026-11-28".into()),
            text: Some("rm -rf".into()),
            incomplete: Some("1".into()),
            page: Some(2),
            ..Filters::default()
        };
        let c = Config::default();
        let q = f.query(&c, 0).unwrap();
        assert_eq!(q.user.as_deref(), Some("jdoe"));
        assert_eq!(q.host, None);
        assert_eq!(q.since, Some(1_795_824_000_000));
        assert!(q.incomplete);
        assert_eq!(
            f.href(3),
            "/?user=jdoe&since=2026-11-28&text=rm%20-rf&incomplete=1&page=3"
        );
        let bad = Filters {
            hostgroup: Some("nj".into()),
            ..Filters::default()
        };
        assert!(bad.query(&c, 0).unwrap_err().contains("unknown host group"));
    }

    #[test]
    fn audit_pane_escapes_and_groups_by_command() {
        use tlog_rs_index::audit::store::{Join, Role};
        use tlog_rs_index::audit::{AuditEvent, Kind};
        let mut o = String::new();
        audit_pane(&mut o, 0, &[], None);
        assert!(o.contains("No audit events"), "{o}");
        let exec = AuditEvent {
            id: "1".into(),
            t_ms: 1500,
            kind: Kind::Exec,
            argv: Some(vec!["echo".into(), "<b>&".into()]),
            cwd: Some("/tmp".into()),
            ..AuditEvent::default()
        };
        let login = AuditEvent {
            id: "2".into(),
            t_ms: -500,
            kind: Kind::Exec,
            argv: Some(vec!["bash".into()]),
            ..AuditEvent::default()
        };
        let t = Trail {
            join: Join::HostUserTime,
            auth_failures: 0,
            events: vec![(Role::Session, login), (Role::Session, exec)],
        };
        let mut o = String::new();
        audit_pane(&mut o, 0, &[(1000, "echo '<b>&'".into())], Some(&t));
        assert!(
            o.contains("joined by host+user+time; 0 failed logins"),
            "{o}"
        );
        assert!(!o.contains("<b>&"), "{o}");
        assert!(
            o.contains("<code class=\"argv\">echo &lt;b&gt;&amp;</code>"),
            "{o}"
        );
        // The login shell before the first command, the echo in its group
        // with a seek button; no failed logins, no list of them.
        let start = o.find("data-cmd=\"start\"").unwrap();
        let first = o.find("data-cmd=\"0\"").unwrap();
        assert!(start < first && o[start..first].contains("bash"), "{o}");
        assert!(o[first..].contains("data-t=\"1.5\""), "{o}");
        assert!(!o.contains("login-failures"), "{o}");
    }

    fn hit(rec: &str, user: &str, host: &str, start: i64, len: i64) -> Hit {
        Hit {
            rec: rec.into(),
            host: host.into(),
            user: user.into(),
            service: None,
            start_ms: start,
            end_ms: start + len,
            state: State::Complete,
            matches: vec![],
        }
    }

    #[test]
    fn sort_and_page_size_come_from_the_url() {
        let mut hits = vec![
            hit("a", "bob", "h2", 30, 5),
            hit("b", "alice", "h1", 10, 50),
            hit("c", "carol", "h1", 20, 1),
            hit("d", "alice", "h3", 40, 5),
        ];
        let order = |sort: &str, hits: &mut Vec<Hit>| {
            let f = Filters {
                sort: Some(sort.into()),
                ..Filters::default()
            };
            f.order().unwrap().0.apply(hits);
            hits.iter().map(|h| h.rec.as_str()).collect::<String>()
        };
        assert_eq!(order("start", &mut hits), "bcad");
        assert_eq!(order("-start", &mut hits), "dacb");
        // Ties keep the start order, in both directions reversed together.
        assert_eq!(order("user", &mut hits), "bdac");
        assert_eq!(order("-user", &mut hits), "cadb");
        assert_eq!(order("host", &mut hits), "bcad");
        assert_eq!(order("-duration", &mut hits), "bdac");
        assert_eq!(order("duration", &mut hits), "cadb");
        let default = Filters::default().order().unwrap();
        assert_eq!(default, (Sort::default(), PER_PAGE));
        assert_eq!(default.0.to_string(), "-start");
        let e = Filters {
            sort: Some("size".into()),
            ..Filters::default()
        }
        .order()
        .unwrap_err();
        assert!(e.contains("unknown column \"size\""), "{e}");
        for per in [0, MAX_PER_PAGE + 1] {
            let f = Filters {
                per: Some(per),
                ..Filters::default()
            };
            assert!(f.order().unwrap_err().starts_with("per: "));
        }
        // The URL keeps order and page size; a header click flips or
        // starts a column.
        let f = Filters {
            user: Some("x".into()),
            sort: Some("user".into()),
            per: Some(2),
            ..Filters::default()
        };
        assert_eq!(f.href(1), "/?user=x&sort=user&per=2&page=1");
        let s = f.order().unwrap().0;
        assert_eq!(clicked(s, SortKey::User).to_string(), "-user");
        assert_eq!(clicked(s, SortKey::Duration).to_string(), "-duration");
        assert_eq!(clicked(s, SortKey::Host).to_string(), "host");
        assert_eq!(f.href_sorted(0, Sort::default()), "/?user=x&per=2");
    }
}
