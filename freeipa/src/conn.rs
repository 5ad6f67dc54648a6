//! Connecting and binding: ordered URI failover, TLS that is always verified,
//! connect and per-operation timeouts.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use ldap3::{LdapConn, LdapConnSettings, LdapError};

use crate::config::{BindMethod, LdapConfig};
use crate::ldaperr::{ResultCode, ResultError};

/// The host keytab FreeIPA enrolment writes, used when `keytab` is not set.
pub const DEFAULT_KEYTAB: &str = "/etc/krb5.keytab";

/// A bound connection and the URI it reached.
pub struct Connection {
    pub ldap: LdapConn,
    pub uri: String,
    pub cfg: LdapConfig,
}

impl Connection {
    /// The next operation gets the configured operation timeout.
    pub fn op(&mut self) -> &mut LdapConn {
        self.ldap.with_timeout(self.cfg.timeout)
    }
}

/// Try every URI in order; the first that connects and binds wins. The
/// error lists what went wrong with each.
pub fn connect(cfg: &LdapConfig) -> Result<Connection, String> {
    // Read the secret and the CA once, before touching the network, so a
    // local problem is reported as such (not as N server failures).
    let password = match (cfg.bind, cfg.password_file.as_deref()) {
        (BindMethod::Simple, Some(pf)) => Some(read_password(pf)?),
        // config::load refuses this; a hand-built LdapConfig gets an error, not a panic.
        (BindMethod::Simple, None) => return Err("bind = \"simple\" needs password_file".into()),
        _ => None,
    };
    let connector = tls_connector(cfg)?;
    #[cfg(feature = "gssapi")]
    if cfg.bind == BindMethod::Gssapi {
        let kt = cfg.keytab.as_deref().unwrap_or(Path::new(DEFAULT_KEYTAB));
        // A missing or unreadable keytab is a local problem: say so, not
        // "no Kerberos credentials" from every server.
        std::fs::File::open(kt).map_err(|e| format!("keytab {}: {e}", kt.display()))?;
        // The host keytab is the only client credential (like SSSD's ipa
        // provider): a private in-memory ticket cache, so root's own
        // tickets (e.g. an admin's kinit) are never used and no ticket is
        // written to disk. Set before any runtime thread exists.
        std::env::set_var("KRB5_CLIENT_KTNAME", kt);
        std::env::set_var("KRB5CCNAME", "MEMORY:tlog-rs-sync");
    }
    let mut failures = Vec::new();
    for uri in &cfg.uris {
        let attempt = if cfg.bind == BindMethod::Gssapi {
            connect_gssapi_bounded(cfg, uri, connector.clone())
        } else {
            connect_one(cfg, uri, connector.clone(), password.as_deref())
        };
        match attempt {
            Ok(ldap) => {
                return Ok(Connection {
                    ldap,
                    uri: uri.clone(),
                    cfg: cfg.clone(),
                })
            }
            Err(e) => failures.push(format!("{uri}: {e}")),
        }
    }
    Err(format!(
        "no LDAP server could be used:\n  {}",
        failures.join("\n  ")
    ))
}

/// libkrb5 talks to the KDC with its own blocking retry loop (about 25 s
/// for a KDC that accepts and never answers), which ldap3's async timeout
/// cannot interrupt. So the GSSAPI connect+bind runs on a helper thread and
/// is given up after connect_timeout + timeout; a stuck helper dies with the
/// process (sync is a short-lived CLI).
fn connect_gssapi_bounded(
    cfg: &LdapConfig,
    uri: &str,
    connector: native_tls::TlsConnector,
) -> Result<LdapConn, String> {
    let limit = cfg.connect_timeout + cfg.timeout;
    let (tx, rx) = std::sync::mpsc::channel();
    let (c, u) = (cfg.clone(), uri.to_string());
    std::thread::Builder::new()
        .name("gssapi-bind".into())
        .spawn(move || {
            let _ = tx.send(connect_one(&c, &u, connector, None));
        })
        .map_err(|e| format!("cannot start the GSSAPI bind thread: {e}"))?;
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        let keytab = cfg.keytab.as_deref().unwrap_or(Path::new(DEFAULT_KEYTAB));
        Err(format!(
            "SASL GSSAPI bind with keytab {} timed out after {} s (connect_timeout {} s + \
             timeout {} s): the KDC or the server is not answering",
            keytab.display(),
            limit.as_secs(),
            cfg.connect_timeout.as_secs(),
            cfg.timeout.as_secs()
        ))
    })
}

fn connect_one(
    cfg: &LdapConfig,
    uri: &str,
    connector: native_tls::TlsConnector,
    password: Option<&str>,
) -> Result<LdapConn, String> {
    let starttls = uri.starts_with("ldap://");
    let settings = LdapConnSettings::new()
        .set_conn_timeout(cfg.connect_timeout)
        .set_starttls(starttls)
        .set_connector(connector);
    let mut ldap = LdapConn::with_settings(settings, uri).map_err(|e| describe(&e, cfg))?;
    let bound = match cfg.bind {
        BindMethod::Simple => ldap
            .with_timeout(cfg.timeout)
            .simple_bind(cfg.bind_dn.as_deref().unwrap_or(""), password.unwrap_or("")),
        BindMethod::External => ldap.with_timeout(cfg.timeout).sasl_external_bind(),
        BindMethod::Gssapi => gssapi_bind(&mut ldap, cfg, uri),
    };
    match bound {
        Ok(r) if r.rc == 0 => Ok(ldap),
        Ok(r) => Err(bind_failure(cfg, &r)),
        Err(LdapError::LdapResult { result }) => Err(bind_failure(cfg, &result)),
        Err(e) if cfg.bind == BindMethod::Gssapi => Err(gssapi_failure(cfg, &e)),
        Err(e) => Err(describe(&e, cfg)),
    }
}

/// A Kerberos/GSSAPI error with the host keytab named and the usual cause.
fn gssapi_failure(cfg: &LdapConfig, e: &LdapError) -> String {
    let text = describe(e, cfg);
    let hint = if text.contains("Cannot contact any KDC") {
        "the KDC is unreachable (check krb5.conf [realms] kdc or the DNS SRV records)"
    } else if text.contains("(Server ") && text.contains("not found in Kerberos database") {
        // MIT: "Server ldap/<host>@REALM not found in Kerberos database"
        "the KDC has no ldap/<server> principal for the host name in this URI (use the server's FQDN)"
    } else if text.contains("Preauthentication failed")
        || text.contains("Decrypt integrity check failed")
        || text.contains("Key version")
        || text.contains("Password incorrect")
    {
        "the keytab's keys do not match the KDC (stale keytab: fetch it again, e.g. ipa-getkeytab)"
    } else if text.contains("not found in Kerberos database") {
        "the KDC does not know this principal (host not enrolled, or removed)"
    } else {
        ""
    };
    let keytab = cfg.keytab.as_deref().unwrap_or(Path::new(DEFAULT_KEYTAB));
    let mut s = format!(
        "SASL GSSAPI bind with keytab {} failed: {text}",
        keytab.display()
    );
    if !hint.is_empty() {
        s.push_str(&format!(": {hint}"));
    }
    s
}

#[cfg(feature = "gssapi")]
fn gssapi_bind(
    ldap: &mut LdapConn,
    cfg: &LdapConfig,
    uri: &str,
) -> ldap3::result::Result<ldap3::LdapResult> {
    let host = uri
        .split("://")
        .nth(1)
        .and_then(|r| r.split(['/', ':']).next())
        .unwrap_or("");
    ldap.with_timeout(cfg.timeout).sasl_gssapi_bind(host)
}

#[cfg(not(feature = "gssapi"))]
fn gssapi_bind(
    _ldap: &mut LdapConn,
    _cfg: &LdapConfig,
    _uri: &str,
) -> ldap3::result::Result<ldap3::LdapResult> {
    Ok(ldap3::LdapResult {
        rc: 7, // authMethodNotSupported
        matched: String::new(),
        text: "this tlog-rs was built without the `gssapi` feature (a default feature: \
               rebuild without --no-default-features, or use bind = \"simple\"/\"external\")"
            .into(),
        refs: vec![],
        ctrls: vec![],
    })
}

fn bind_failure(cfg: &LdapConfig, r: &ldap3::LdapResult) -> String {
    let who = match cfg.bind {
        BindMethod::Simple => format!("simple bind as {}", cfg.bind_dn.as_deref().unwrap_or("")),
        BindMethod::External => "SASL EXTERNAL bind".to_string(),
        BindMethod::Gssapi => "SASL GSSAPI bind".to_string(),
    };
    let err = ResultError::from(r);
    let what = match err.code {
        ResultCode::InvalidCredentials => "invalid credentials (wrong DN or password)".to_string(),
        ResultCode::AuthMethodNotSupported => "authentication method not supported".to_string(),
        ResultCode::InappropriateAuthentication => "inappropriate authentication".to_string(),
        ResultCode::ConfidentialityRequired => {
            "the server requires a confidential (TLS) connection".to_string()
        }
        _ => err.to_string(),
    };
    let mut s = format!("{who} failed: {what}");
    if !r.text.is_empty() && err.code != ResultCode::InvalidCredentials {
        s.push_str(&format!(" ({})", r.text));
    }
    s
}

/// An LdapError in words, with the usual causes named.
pub fn describe(e: &LdapError, cfg: &LdapConfig) -> String {
    let text = e.to_string();
    match e {
        LdapError::Timeout { .. } => format!(
            "timed out (connect_timeout {} s, timeout {} s): server unreachable or not answering",
            cfg.connect_timeout.as_secs(),
            cfg.timeout.as_secs()
        ),
        LdapError::NativeTLS { .. } => {
            format!("TLS failed: {text} (is the server certificate signed by ca_file / a system CA, and issued for this host name?)")
        }
        LdapError::Io { source } if source.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (server down?)".into()
        }
        LdapError::LdapResult { result } => crate::ldaperr::result_text(result),
        _ if text.contains("certificate") || text.contains("handshake") => {
            format!("TLS failed: {text}")
        }
        _ => text,
    }
}

fn tls_connector(cfg: &LdapConfig) -> Result<native_tls::TlsConnector, String> {
    let mut b = native_tls::TlsConnector::builder();
    // Verification stays on: no danger_accept_* call exists in this crate.
    if let Some(ca) = &cfg.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
        let cert = native_tls::Certificate::from_pem(&pem)
            .map_err(|e| format!("ca_file {}: not a PEM certificate: {e}", ca.display()))?;
        b.add_root_certificate(cert);
    }
    b.build().map_err(|e| format!("TLS setup: {e}"))
}

/// The bind password: first line of a file only root can read and write.
pub fn read_password(path: &Path) -> Result<String, String> {
    let md =
        std::fs::metadata(path).map_err(|e| format!("password_file {}: {e}", path.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if md.uid() != 0 && md.uid() != euid {
        return Err(format!(
            "password_file {}: owned by uid {}, must be owned by root",
            path.display(),
            md.uid()
        ));
    }
    if md.mode() & 0o077 != 0 {
        return Err(format!(
            "password_file {}: mode {:04o} lets group or others read it; run: chmod 600 {}",
            path.display(),
            md.mode() & 0o7777,
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("password_file {}: {e}", path.display()))?;
    let pw = text.lines().next().unwrap_or("").to_string();
    if pw.is_empty() {
        return Err(format!("password_file {}: empty", path.display()));
    }
    Ok(pw)
}
