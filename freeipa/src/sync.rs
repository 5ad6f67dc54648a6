//! `tlog-rs sync`: fetch the rules for this host and replace the cache.
//!
//! On any failure the previous cache stays untouched (it is only ever
//! replaced by a complete, verified new one), the command exits 1 with the
//! reason and the state of the cache it kept, and the same goes to syslog.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tlog_rs_policy::freeipa::{load_cache, IpaRules};

use crate::syslog::{self, Level};
use crate::{cachefile, config, conn, fetch, resolve};

const USAGE: &str = "\
usage: tlog-rs sync [--policy FILE] [--quiet]
       tlog-rs sync [--hostgroups FILE] [--central FILE] [--policy FILE] [--quiet]
       (and [--audit-rules FILE] with the first form)

Fetch the FreeIPA session-recording rules that apply to this host into the
local cache ([freeipa] cache in the policy file). Settings: the [freeipa] and
[freeipa.ldap] tables of the policy file (default /etc/tlog-rs/policy.toml).
Exit status: 0 synced, 1 sync failed (the last good cache is kept), 2 usage
or configuration error, 3 synced with rule warnings: the new cache is in use,
but some enabled rules were not applied as written (invalid rules are
ignored; time limits (accessTime) are not evaluated: a time-limited exemption
never applies, a time-limited record rule records at all times). Each such
rule is reported on stderr and to syslog with its name and DN.

After a sync, the audit rules file (--audit-rules, default
/etc/audit/rules.d/50-tlog-rs.rules) is regenerated if it exists and the
new rules or group memberships change it (tlog-rs audit-rules); load it
with `augenrules --load`. If it cannot be rewritten, the exit status is 1.
With the default policy file, the NSS policy snapshot is removed (it cannot
hold FreeIPA rules).

--hostgroups FILE: for the central server, write every FreeIPA host group
instead, each resolved to its hosts' FQDNs (nested groups included), as the
[hostgroups] table central.toml's hostgroups_file reads. The rules cache is
not touched. Exit status: 0 written, 1 failed (FILE is kept as it was).

--central FILE: for the central server, write FreeIPA's enabled access
(ipaSessionRecordingAccess) and retention (ipaSessionRecordingRetention)
objects as the [[web.auditors]] and [[retention.rule]] entries central.toml's
freeipa_file reads. An invalid object is skipped and reported with its name
and DN. Exit status: 0 written, 1 failed (FILE is kept as it was), 3 written
with objects skipped. With --hostgroups too, both files are written.";

/// Exit status: synced, but some rules were not applied as written.
pub const EXIT_RULE_WARNINGS: i32 = 3;

pub fn main(args: Vec<OsString>) -> i32 {
    let mut policy = PathBuf::from(tlog_rs_policy::DEFAULT_POLICY_PATH);
    let mut quiet = false;
    let mut hostgroups = None;
    let mut central = None;
    let mut audit_rules = PathBuf::from(tlog_rs_audit::rules::DEFAULT_RULES_PATH);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--policy") => match it.next() {
                Some(p) => policy = PathBuf::from(p),
                None => return usage("--policy needs a file"),
            },
            Some("--hostgroups") => match it.next() {
                Some(p) => hostgroups = Some(PathBuf::from(p)),
                None => return usage("--hostgroups needs a file"),
            },
            Some("--central") => match it.next() {
                Some(p) => central = Some(PathBuf::from(p)),
                None => return usage("--central needs a file"),
            },
            Some("--audit-rules") => match it.next() {
                Some(p) => audit_rules = PathBuf::from(p),
                None => return usage("--audit-rules needs a file"),
            },
            Some("--quiet" | "-q") => quiet = true,
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return 0;
            }
            _ => return usage(&format!("unknown argument {a:?}")),
        }
    }
    let cfg = match config::load(&policy) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tlog-rs sync: {e}");
            syslog::log(Level::Error, &format!("sync not run: {e}"));
            return 2;
        }
    };
    if hostgroups.is_some() || central.is_some() {
        let h = hostgroups.map_or(0, |out| sync_hostgroups(&cfg, &out, quiet));
        let c = central.map_or(0, |out| sync_central(&cfg, &out, quiet));
        // A failure (1) outranks skipped objects (3).
        return if h == 1 || c == 1 { 1 } else { h.max(c) };
    }
    match sync(&cfg) {
        Ok(report) => {
            if !quiet {
                println!("{}", report.summary);
            }
            for w in &report.warnings {
                eprintln!("tlog-rs sync: warning: {w}");
                syslog::log(Level::Warning, w);
            }
            syslog::log(Level::Info, &report.summary);
            refresh_nss_snapshot(&policy);
            if !refresh_audit_rules(&audit_rules, &policy, &cfg.ldap.host, quiet) {
                1
            } else if report.rule_warnings > 0 {
                EXIT_RULE_WARNINGS
            } else {
                0
            }
        }
        Err(e) => {
            let kept = describe_kept_cache(&cfg.cache);
            eprintln!("tlog-rs sync: {e}\ntlog-rs sync: {kept}");
            syslog::log(Level::Error, &format!("sync failed: {e}; {kept}"));
            1
        }
    }
}

/// NSS's policy snapshot follows the policy's inputs (one writer,
/// `snapshot::refresh`). A snapshot cannot hold FreeIPA rules, so with the
/// default policy this removes any left from before FreeIPA was configured;
/// NSS then parses the policy and reads the new cache.
fn refresh_nss_snapshot(policy: &Path) {
    use tlog_rs_policy::{snapshot, Policy, DEFAULT_POLICY_PATH, DEFAULT_SNAPSHOT_PATH};
    if policy != Path::new(DEFAULT_POLICY_PATH) {
        return;
    }
    let out = Path::new(DEFAULT_SNAPSHOT_PATH);
    let host = tlog_rs_policy::sys::host_name();
    let res = match Policy::load(policy) {
        Ok(p) => snapshot::refresh(&p, DEFAULT_POLICY_PATH, &host, out).map(|_| ()),
        // sync runs only with [freeipa], which no snapshot holds.
        Err(_) => match std::fs::remove_file(out) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    };
    if let Err(e) = res {
        let w = format!("NSS policy snapshot {} not refreshed: {e}", out.display());
        eprintln!("tlog-rs sync: warning: {w}");
        syslog::log(Level::Warning, &w);
    }
}

/// The audit levels follow the new cache: regenerate the rules file if this
/// host has one. False if it could not be rewritten.
fn refresh_audit_rules(path: &Path, policy: &Path, host: &str, quiet: bool) -> bool {
    use tlog_rs_audit::file::{refresh, Refresh};
    match refresh(path, policy, host, &tlog_rs_audit::select::SystemDirectory) {
        Ok(Refresh::NotInstalled | Refresh::Unchanged) => true,
        Ok(Refresh::Written { broken }) => {
            let msg = format!(
                "audit rules changed: wrote {}; load them with `augenrules --load`",
                path.display()
            );
            if !quiet {
                println!("{msg}");
            }
            syslog::log(Level::Info, &msg);
            if let Some(why) = broken {
                let w = format!("audit rules: {why}");
                eprintln!("tlog-rs sync: warning: {w}");
                syslog::log(Level::Warning, &w);
            }
            true
        }
        Err(e) => {
            let msg = format!("synced, but the audit rules file could not be regenerated: {e}");
            eprintln!("tlog-rs sync: {msg}");
            syslog::log(Level::Error, &msg);
            false
        }
    }
}

fn sync_hostgroups(cfg: &config::SyncConfig, out: &Path, quiet: bool) -> i32 {
    match crate::hostgroups::sync(cfg, out) {
        Ok(summary) => {
            if !quiet {
                println!("{summary}");
            }
            syslog::log(Level::Info, &summary);
            0
        }
        Err(e) => {
            let kept = format!("{} is kept as it was", out.display());
            eprintln!("tlog-rs sync: {e}\ntlog-rs sync: {kept}");
            syslog::log(
                Level::Error,
                &format!("host group sync failed: {e}; {kept}"),
            );
            1
        }
    }
}

fn sync_central(cfg: &config::SyncConfig, out: &Path, quiet: bool) -> i32 {
    match crate::central::sync(cfg, out) {
        Ok(report) => {
            if !quiet {
                println!("{}", report.summary);
            }
            for n in &report.notices {
                let w = n.to_string();
                eprintln!("tlog-rs sync: warning: {w}");
                syslog::log(Level::Warning, &w);
            }
            syslog::log(Level::Info, &report.summary);
            if report.notices.is_empty() {
                0
            } else {
                EXIT_RULE_WARNINGS
            }
        }
        Err(e) => {
            let kept = format!("{} is kept as it was", out.display());
            eprintln!("tlog-rs sync: {e}\ntlog-rs sync: {kept}");
            syslog::log(
                Level::Error,
                &format!("access/retention sync failed: {e}; {kept}"),
            );
            1
        }
    }
}

fn usage(msg: &str) -> i32 {
    eprintln!("tlog-rs sync: {msg}\n{USAGE}");
    2
}

pub struct Report {
    pub summary: String,
    pub warnings: Vec<String>,
    /// How many warnings are about rules (ignored or time-limited).
    pub rule_warnings: usize,
}

/// Connect, read, resolve, verify, write. Nothing is written unless every
/// step succeeded.
pub fn sync(cfg: &config::SyncConfig) -> Result<Report, String> {
    let mut c = conn::connect(&cfg.ldap)?;
    // ldap3 panics on a malformed server response: report it as a failure.
    let snap = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fetch::snapshot(&mut c)))
        .map_err(|_| format!("{}: malformed answer from the server", c.uri))??;
    let _ = c.ldap.unbind();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let resolve::Built {
        cache: file,
        notices,
    } = resolve::build(&snap, now);
    let text =
        serde_json::to_string_pretty(&file).map_err(|e| format!("encode cache: {e}"))? + "\n";
    // What PAM will read must parse: check before replacing the old cache.
    IpaRules::from_json(&text, &cfg.cache.display().to_string())
        .map_err(|e| format!("internal: {e}"))?;
    cachefile::write_atomic(&cfg.cache, &text)?;
    let rule_warnings = notices.len();
    let warnings = notices
        .iter()
        .map(ToString::to_string)
        .chain(snap.host_entry.is_none().then(|| {
            format!(
                "host {} is not in {}: only rules with hostCategory=all apply",
                cfg.ldap.host,
                resolve::Layout::new(&cfg.ldap.base_dn).hosts
            )
        }))
        .collect();
    let mut summary = format!(
        "synced {} rule(s) for host {} from {} into {}",
        file.rules.len(),
        file.host,
        c.uri,
        cfg.cache.display()
    );
    if rule_warnings > 0 {
        summary.push_str(&format!(
            "; {rule_warnings} rule(s) not applied as written (see the warnings)"
        ));
    }
    Ok(Report {
        summary,
        warnings,
        rule_warnings,
    })
}

/// What the hosts will use now that this sync failed.
pub fn describe_kept_cache(path: &Path) -> String {
    match load_cache(path) {
        Ok(r) => {
            let age = SystemTime::now()
                .duration_since(r.synced_at())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!(
                "kept the last good cache {} (host {}, {} rule(s), synced {} s ago)",
                path.display(),
                r.host(),
                r.rules().len(),
                age
            )
        }
        Err(e) if e.kind == tlog_rs_policy::ErrorKind::NotFound => format!(
            "no cache at {}: until a sync succeeds, logins follow the fail-secure rule (everyone recorded)",
            path.display()
        ),
        Err(e) => format!(
            "the existing cache is unusable ({e}): until a sync succeeds, logins follow the fail-secure rule (everyone recorded)"
        ),
    }
}
