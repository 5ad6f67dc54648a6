//! `tlog-rs web`: search and play the recordings of the central index in a
//! browser. Login through PAM (service `tlog-rs-web`, via the privileged
//! helper `tlog-rs-web-auth`), each user sees their own recordings, members
//! of `[web] auditors_group` see all, scoped auditors (`[[web.auditors]]`)
//! a scope ([`acl`]); every view and export is logged.
//! See docs/web.md.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tlog_rs_index::config::{Config, DbSpec};

mod access;
pub mod acl;
mod app;
mod assets;
pub mod auth;
pub mod cast;
pub mod html;
mod pages;
mod serve;
pub mod session;

pub const USAGE: &str = "\
usage: tlog-rs web [--listen ADDR] [--config FILE] [--db PATH]
                   (--tls-cert FILE --tls-key FILE | --insecure-http)
                   [--auth-helper PATH]

Serves the web UI of the central index: search, play and export recordings.
Users sign in with their system password (PAM service tlog-rs-web, through
the helper tlog-rs-web-auth); each sees their own recordings, members of
[web] auditors_group (default auditors) see all, members of a
[[web.auditors]] group also see its host groups and user groups. Every
view and export is logged to syslog (authpriv) and the index's access log.

  --listen ADDR      address and port (default 127.0.0.1:8443)
  --config FILE      central config (default /etc/tlog-rs/central.toml)
  --db PATH          index database, overrides the config
  --tls-cert FILE    PEM certificate chain
  --tls-key FILE     PEM private key
  --insecure-http    plain HTTP, only on a loopback address, for a TLS
                     reverse proxy on the same host (cookies stay Secure)
  --auth-helper PATH the login helper (default: tlog-rs-web-auth beside
                     this program)

Exit status: 2 when it cannot start.";

#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub config: Option<PathBuf>,
    pub db: Option<DbSpec>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub auth_helper: PathBuf,
}

fn parse(args: Vec<OsString>) -> Result<Option<Options>, String> {
    let mut it = args.into_iter().map(|a| {
        a.into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))
    });
    let mut listen: SocketAddr = "127.0.0.1:8443".parse().expect("valid default");
    let (mut config, mut db, mut cert, mut key, mut helper) = (None, None, None, None, None);
    let mut insecure = false;
    while let Some(a) = it.next() {
        let a = a?;
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let value = |it: &mut dyn Iterator<Item = Result<String, String>>| match inline.clone() {
            Some(v) => Ok(v),
            None => it
                .next()
                .unwrap_or_else(|| Err(format!("{opt} needs a value"))),
        };
        match opt.as_str() {
            "--listen" => {
                let v = value(&mut it)?;
                listen = v
                    .parse()
                    .map_err(|_| format!("--listen: {v:?} is not ADDRESS:PORT"))?;
            }
            "--config" => config = Some(PathBuf::from(value(&mut it)?)),
            "--db" => db = Some(value(&mut it)?.parse()?),
            "--tls-cert" => cert = Some(PathBuf::from(value(&mut it)?)),
            "--tls-key" => key = Some(PathBuf::from(value(&mut it)?)),
            "--auth-helper" => helper = Some(PathBuf::from(value(&mut it)?)),
            "--insecure-http" if inline.is_none() => insecure = true,
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument {a:?}\n\n{USAGE}")),
        }
    }
    let tls = match (cert, key, insecure) {
        (Some(c), Some(k), false) => Some((c, k)),
        (None, None, true) if listen.ip().is_loopback() => None,
        (None, None, true) => {
            return Err(format!(
                "--insecure-http: {listen} is not a loopback address; plain HTTP is only for a reverse proxy on this host"
            ))
        }
        (_, _, true) => return Err("--insecure-http and --tls-cert/--tls-key exclude each other".into()),
        (None, None, false) => {
            return Err(
                "give --tls-cert FILE --tls-key FILE, or --insecure-http behind a TLS reverse proxy on this host".into(),
            )
        }
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let auth_helper = match helper {
        Some(h) => h,
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find this program: {e}"))?
            .with_file_name("tlog-rs-web-auth"),
    };
    Ok(Some(Options {
        listen,
        config,
        db,
        tls,
        auth_helper,
    }))
}

/// `tlog-rs web ARGS`: serves until killed.
pub fn run(args: Vec<OsString>) -> i32 {
    let opts = match parse(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return 0;
        }
        Err(e) => return fail(&e),
    };
    let config = match Config::load(opts.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let db = opts.db.clone().unwrap_or_else(|| config.db.clone());
    if let DbSpec::Sqlite(p) = &db {
        if !p.exists() {
            return fail(&format!(
                "{}: no index there; run `tlog-rs index` first",
                p.display()
            ));
        }
    }
    if let Err(e) = tlog_rs_index::store::open(&db) {
        return fail(&e.to_string());
    }
    if !opts.auth_helper.is_file() {
        return fail(&format!(
            "{}: login helper not found (--auth-helper)",
            opts.auth_helper.display()
        ));
    }
    let tls = match &opts.tls {
        Some((c, k)) => match serve::tls_config(c, k) {
            Ok(t) => Some(t),
            Err(e) => return fail(&e),
        },
        None => None,
    };
    access::open_syslog();
    let state = Arc::new(app::State::new(opts.clone(), config, db));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(opts.listen).await {
            Ok(l) => l,
            Err(e) => return fail(&format!("{}: {e}", opts.listen)),
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let addr = listener.local_addr().unwrap_or(opts.listen);
        eprintln!("tlog-rs web: listening on {scheme}://{addr}/");
        access::syslog(&format!("listening on {scheme}://{addr}/"));
        match serve::run(listener, tls, app::router(state)).await {
            Ok(()) => 0,
            Err(e) => fail(&e.to_string()),
        }
    })
}

fn fail(msg: &str) -> i32 {
    eprintln!("tlog-rs web: {msg}");
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Option<Options>, String> {
        parse(a.iter().map(OsString::from).collect())
    }

    #[test]
    fn options() {
        let o = p(&["--listen=127.0.0.1:0", "--insecure-http", "--db", "/x.db"])
            .unwrap()
            .unwrap();
        assert!(o.tls.is_none());
        assert_eq!(o.db, Some(DbSpec::Sqlite("/x.db".into())));
        let e = p(&["--listen", "0.0.0.0:443", "--insecure-http"]).unwrap_err();
        assert!(e.contains("not a loopback"), "{e}");
        assert!(p(&[]).unwrap_err().contains("--tls-cert"));
        assert!(p(&["--tls-cert", "c"]).unwrap_err().contains("go together"));
        let o = p(&["--tls-cert", "c", "--tls-key", "k", "--listen", "[::]:8443"])
            .unwrap()
            .unwrap();
        assert_eq!(o.tls, Some(("c".into(), "k".into())));
        assert!(p(&["--bogus"]).unwrap_err().contains("unknown argument"));
        assert!(p(&["--help"]).unwrap().is_none());
    }
}
