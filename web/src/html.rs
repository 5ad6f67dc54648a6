//! Server-rendered pages: small helpers, every dynamic value escaped.

use std::fmt::Write;

/// Escape for HTML text and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Percent-encode a URL path segment or query value.
pub fn url(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// The signed-in user as the header shows it.
pub struct Who<'a> {
    pub user: &'a str,
    pub auditor: bool,
    /// A scoped auditor (`[[web.auditors]]`).
    pub scoped: bool,
    pub csrf: &'a str,
}

/// A whole page. `body` is already HTML; scripts are external modules only
/// (the CSP forbids inline script).
pub fn page(title: &str, who: Option<&Who>, body: &str, scripts: &[&str]) -> String {
    let mut o = String::with_capacity(body.len() + 1024);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        o,
        "<title>{} · tlog-rs</title><link rel=\"stylesheet\" href=\"/static/app.css\">",
        esc(title)
    );
    for s in scripts {
        o.push_str(s);
    }
    o.push_str("</head><body><header><a class=\"brand\" href=\"/\">tlog-rs</a>");
    if let Some(w) = who {
        let _ = write!(
            o,
            "<nav><a href=\"/\">Recordings</a>{}</nav><form class=\"logout\" method=\"post\" action=\"/logout\"><span id=\"whoami\">{}{}</span><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Sign out</button></form>",
            if w.auditor || w.scoped {
                "<a href=\"/access\">Access log</a>"
            } else {
                ""
            },
            esc(w.user),
            if w.auditor {
                " (auditor)"
            } else if w.scoped {
                " (scoped auditor)"
            } else {
                ""
            },
            esc(w.csrf)
        );
    }
    o.push_str("</header><main>");
    o.push_str(body);
    o.push_str("</main></body></html>\n");
    o
}

/// `1h02m03s`, `4m05s`, `6s`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url("a b/é?&"), "a%20b%2F%C3%A9%3F%26");
        assert_eq!(duration(3_723_000), "1h02m03s");
        assert_eq!(duration(65_000), "1m05s");
        assert_eq!(duration(-5), "0s");
    }
}
