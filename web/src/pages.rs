//! The HTML of each page.

use std::fmt::Write;

use serde::Deserialize;
use tlog_rs_index::config::Config;
use tlog_rs_index::store::{AccessEntry, Hit, Query, RecordingInfo, State};
use tlog_rs_index::timewin::{self, short_time, Zone};

use crate::html::{duration, esc, url};

pub const PER_PAGE: usize = 50;

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

    /// The query string of these filters on another page.
    fn href(&self, page: usize) -> String {
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
    o.push_str("<button>Search</button></form>");
    if let Some(e) = err {
        let _ = write!(o, "<p class=\"error\">{}</p>", esc(e));
        return o;
    }
    let page = f.page.unwrap_or(0);
    let _ = write!(
        o,
        "<p id=\"count\">{total} recording{} (times in UTC)</p>",
        if total == 1 { "" } else { "s" }
    );
    o.push_str("<table id=\"recordings\"><thead><tr><th>Start</th><th>Host</th><th>User</th><th>Service</th><th>Duration</th><th>State</th><th>Matches</th></tr></thead><tbody>");
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
            "<tr class=\"rec\" data-rec=\"{}\"><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"matches\">{}</td></tr>",
            esc(&h.rec),
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
            "<a rel=\"prev\" href=\"{}\">← newer</a> ",
            esc(&f.href(page - 1))
        );
    }
    if (page + 1) * PER_PAGE < total {
        let _ = write!(
            o,
            "<a rel=\"next\" href=\"{}\">older →</a>",
            esc(&f.href(page + 1))
        );
    }
    o.push_str("</nav>");
    o
}

pub fn recording(info: &RecordingInfo, commands: &[(i64, String)], segmented: bool) -> String {
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
        "<div class=\"recording\"><div id=\"player\" {}></div><aside><h2>Commands</h2><ol id=\"commands\">",
        if segmented {
            format!("data-index=\"{base}/index.json\"")
        } else {
            format!("data-cast=\"{base}/cast\"")
        }
    );
    for (t, text) in commands {
        let _ = write!(
            o,
            "<li><button type=\"button\" data-t=\"{}\"><span class=\"t\">{}</span> <code>{}</code></button></li>",
            *t as f64 / 1000.0,
            duration(*t),
            esc(text)
        );
    }
    if commands.is_empty() {
        o.push_str("<li class=\"none\">No input was recorded.</li>");
    }
    let _ = write!(
        o,
        "</ol><h2>Export</h2><p><a id=\"export-jsonl\" href=\"{base}/export.jsonl\">tlog JSON Lines</a> · <a id=\"export-cast\" href=\"{base}/export.cast\">asciicast v2</a></p></aside></div>"
    );
    o
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
}
