//! FreeIPA central control for tlog-rs: `tlog-rs sync` fetches the
//! session-recording rules that apply to this host into the local cache the
//! policy engine reads, and `tlog-rs rules` manages them in LDAP. This is the
//! only crate that talks LDAP (ldap3, sync API: its tokio runtime lives in
//! the CLI process only, never in PAM/NSS modules).

pub mod cachefile;
pub mod central;
pub mod config;
pub mod conn;
pub mod dn;
pub mod fetch;
pub mod hostgroups;
pub mod ldaperr;
pub mod resolve;
pub mod rules;
pub mod sync;
pub mod syslog;
