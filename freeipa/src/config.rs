//! The `[freeipa]` table of policy.toml as `tlog-rs sync` and `tlog-rs rules`
//! read it. The policy engine reads `cache`/`max_age`/`on_stale` from the same
//! table; the LDAP connection settings live in the nested `[freeipa.ldap]`
//! table, which only this crate reads.
//!
//! ```toml
//! [freeipa]
//! cache = "/var/lib/tlog-rs/freeipa-cache.json"
//! max_age = "1d"
//!
//! [freeipa.ldap]
//! uris = ["ldaps://ipa1.example.com", "ldap://ipa2.example.com"]  # tried in order
//! base_dn = "dc=example,dc=com"
//! host = "web1.example.com"          # default: this host's name
//! bind = "gssapi"                    # gssapi | simple | external
//! bind_dn = "uid=tlog-sync,cn=sysaccounts,cn=etc,dc=example,dc=com"  # simple only
//! password_file = "/etc/tlog-rs/ldap.password"                       # simple only, root-only mode
//! ca_file = "/etc/ipa/ca.crt"        # TLS trust anchor (added to the system roots)
//! connect_timeout = 5                # seconds
//! timeout = 30                       # seconds, each LDAP operation
//! ```
//! `ldap://` URIs always use StartTLS and `ldaps://` TLS; the certificate is
//! always verified (there is no switch to turn that off). `ldapi://` (local
//! socket) needs no TLS.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMethod {
    /// SASL/GSSAPI with the host keytab (feature `gssapi`).
    Gssapi,
    /// Simple bind with a DN and a password read from a root-only file.
    Simple,
    /// SASL EXTERNAL (ldapi:// peer credentials, or a TLS client cert).
    External,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapConfig {
    pub uris: Vec<String>,
    pub base_dn: String,
    pub host: String,
    pub bind: BindMethod,
    pub bind_dn: Option<String>,
    pub password_file: Option<PathBuf>,
    pub keytab: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Where the cache is written (same key the policy engine reads).
    pub cache: PathBuf,
    pub ldap: LdapConfig,
}

#[derive(Deserialize)]
struct FileToml {
    freeipa: Option<FreeIpaToml>,
}

// Keys the policy engine owns are accepted here and ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FreeIpaToml {
    #[allow(dead_code)]
    enabled: Option<bool>,
    cache: Spanned<String>,
    #[allow(dead_code)]
    max_age: Option<toml::Value>,
    #[allow(dead_code)]
    on_stale: Option<String>,
    ldap: Option<Spanned<LdapToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LdapToml {
    uris: Spanned<Vec<String>>,
    base_dn: Spanned<String>,
    host: Option<Spanned<String>>,
    bind: Spanned<String>,
    bind_dn: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    keytab: Option<Spanned<String>>,
    ca_file: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<u64>>,
    timeout: Option<Spanned<u64>>,
}

/// A configuration problem: `FILE:LINE: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn load(path: &Path) -> Result<SyncConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

pub fn parse(text: &str, origin: &str) -> Result<SyncConfig, ConfigError> {
    let at = |span: std::ops::Range<usize>, msg: String| {
        ConfigError(format!("{origin}:{}: {msg}", line_of(text, span.start)))
    };
    let raw: FileToml = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        ConfigError(format!("{origin}:{line}: {}", e.message().trim()))
    })?;
    let ipa = raw
        .freeipa
        .ok_or_else(|| ConfigError(format!("{origin}: no [freeipa] table")))?;
    let cache = ipa.cache;
    if !cache.get_ref().starts_with('/') {
        return Err(at(
            cache.span(),
            format!(
                "[freeipa] cache = {:?}: must be an absolute path",
                cache.get_ref()
            ),
        ));
    }
    let ldap = ipa.ldap.ok_or_else(|| {
        ConfigError(format!(
            "{origin}: no [freeipa.ldap] table (LDAP connection settings)"
        ))
    })?;
    let ldap_span = ldap.span();
    let l = ldap.into_inner();

    if l.uris.get_ref().is_empty() {
        return Err(at(
            l.uris.span(),
            "[freeipa.ldap] uris: at least one URI is needed".into(),
        ));
    }
    for u in l.uris.get_ref() {
        let scheme = u.split("://").next().unwrap_or("");
        if !u.contains("://") || !matches!(scheme, "ldap" | "ldaps" | "ldapi") {
            return Err(at(
                l.uris.span(),
                format!("[freeipa.ldap] uris: {u:?} is not an ldap://, ldaps:// or ldapi:// URI"),
            ));
        }
    }
    let base_dn = l.base_dn.get_ref().trim().to_string();
    if !crate::dn::looks_like_dn(&base_dn) {
        return Err(at(
            l.base_dn.span(),
            format!("[freeipa.ldap] base_dn = {base_dn:?}: not a DN (like \"dc=example,dc=com\")"),
        ));
    }
    let bind = match l.bind.get_ref().as_str() {
        "gssapi" => BindMethod::Gssapi,
        "simple" => BindMethod::Simple,
        "external" => BindMethod::External,
        other => {
            return Err(at(
                l.bind.span(),
                format!(
                "[freeipa.ldap] bind = {other:?}: expected \"gssapi\", \"simple\" or \"external\""
            ),
            ))
        }
    };
    let abs = |v: Option<Spanned<String>>, key: &str| -> Result<Option<PathBuf>, ConfigError> {
        match v {
            None => Ok(None),
            Some(s) if s.get_ref().starts_with('/') => Ok(Some(PathBuf::from(s.into_inner()))),
            Some(s) => Err(at(
                s.span(),
                format!(
                    "[freeipa.ldap] {key} = {:?}: must be an absolute path",
                    s.get_ref()
                ),
            )),
        }
    };
    let bind_dn = l.bind_dn.map(|s| s.into_inner());
    let password_file = abs(l.password_file, "password_file")?;
    if bind == BindMethod::Simple && (bind_dn.is_none() || password_file.is_none()) {
        return Err(at(
            ldap_span.clone(),
            "[freeipa.ldap] bind = \"simple\" needs bind_dn and password_file".into(),
        ));
    }
    if bind != BindMethod::Simple && (bind_dn.is_some() || password_file.is_some()) {
        return Err(at(
            ldap_span.clone(),
            "[freeipa.ldap] bind_dn/password_file are only used with bind = \"simple\"".into(),
        ));
    }
    let secs = |v: Option<Spanned<u64>>,
                key: &str,
                default: u64|
     -> Result<Duration, ConfigError> {
        match v {
            None => Ok(Duration::from_secs(default)),
            Some(s) if (1..=3600).contains(s.get_ref()) => Ok(Duration::from_secs(*s.get_ref())),
            Some(s) => Err(at(
                s.span(),
                format!(
                    "[freeipa.ldap] {key} = {}: expected 1..3600 seconds",
                    s.get_ref()
                ),
            )),
        }
    };
    let host = match l.host {
        Some(h) if !h.get_ref().trim().is_empty() => h.into_inner().trim().to_lowercase(),
        Some(h) => return Err(at(h.span(), "[freeipa.ldap] host: empty".into())),
        None => local_hostname().ok_or_else(|| {
            ConfigError(format!(
                "{origin}: [freeipa.ldap] host not set and the host name is unknown"
            ))
        })?,
    };
    Ok(SyncConfig {
        cache: PathBuf::from(cache.into_inner()),
        ldap: LdapConfig {
            uris: l.uris.into_inner(),
            base_dn,
            host,
            bind,
            bind_dn,
            password_file,
            keytab: abs(l.keytab, "keytab")?,
            ca_file: abs(l.ca_file, "ca_file")?,
            connect_timeout: secs(l.connect_timeout, "connect_timeout", 5)?,
            timeout: secs(l.timeout, "timeout", 30)?,
        },
    })
}

/// This host's name from uname(2), lowercased.
pub fn local_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for buf.len() bytes; gethostname NUL-terminates
    // within that length on success (we also bound the search below).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_lowercase();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
[freeipa]
cache = "/var/lib/tlog-rs/ipa.json"
max_age = "1d"
[freeipa.ldap]
uris = ["ldaps://ipa1.example.com", "ldap://ipa2.example.com"]
base_dn = "dc=example,dc=com"
host = "Web1.Example.com"
bind = "simple"
bind_dn = "uid=sync,cn=sysaccounts,cn=etc,dc=example,dc=com"
password_file = "/etc/tlog-rs/ldap.pw"
timeout = 7
"#;

    #[test]
    fn parses_a_full_table() {
        let c = parse(OK, "p.toml").unwrap();
        assert_eq!(c.cache, PathBuf::from("/var/lib/tlog-rs/ipa.json"));
        assert_eq!(c.ldap.uris.len(), 2);
        assert_eq!(c.ldap.host, "web1.example.com");
        assert_eq!(c.ldap.bind, BindMethod::Simple);
        assert_eq!(c.ldap.timeout, Duration::from_secs(7));
        assert_eq!(c.ldap.connect_timeout, Duration::from_secs(5));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(
            &OK.replace("bind = \"simple\"", "bind = \"kerberos\""),
            "p.toml",
        )
        .unwrap_err();
        assert_eq!(e.0, "p.toml:9: [freeipa.ldap] bind = \"kerberos\": expected \"gssapi\", \"simple\" or \"external\"");
        let e = parse(&OK.replace("ldap://ipa2", "http://ipa2"), "p.toml").unwrap_err();
        assert!(
            e.0.starts_with("p.toml:6: ") && e.0.contains("not an ldap://"),
            "{e}"
        );
        let e = parse(&OK.replace("timeout = 7", "timeout = 0"), "p.toml").unwrap_err();
        assert!(
            e.0.starts_with("p.toml:12: ") && e.0.contains("1..3600"),
            "{e}"
        );
        let e = parse(&OK.replace("timeout = 7", "no_verify = true"), "p.toml").unwrap_err();
        assert!(
            e.0.starts_with("p.toml:12: ") && e.0.contains("no_verify"),
            "{e}"
        );
        let e = parse(
            &OK.replace(
                "base_dn = \"dc=example,dc=com\"",
                "base_dn = \"example.com\"",
            ),
            "p.toml",
        )
        .unwrap_err();
        assert!(e.0.contains("not a DN"), "{e}");
        let e = parse(
            &OK.replace("password_file = \"/etc/tlog-rs/ldap.pw\"\n", ""),
            "p.toml",
        )
        .unwrap_err();
        assert!(e.0.contains("needs bind_dn and password_file"), "{e}");
    }
}
