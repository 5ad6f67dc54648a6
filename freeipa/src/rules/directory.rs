//! What `tlog-rs rules` needs from the directory: searches and the three
//! writes. [`Connection`] is the LDAP implementation; the unit tests use an
//! in-memory one, so planning and execution are tested without a server.

use std::collections::HashSet;

use ldap3::{Mod, Scope};

use crate::conn::Connection;
use crate::ldaperr::{LdapFailure, OpError, ResultError};
use crate::resolve::Entry;

/// A search's entries.
pub type Found = Result<Vec<Entry>, OpError>;
/// A write's outcome.
pub type Written = Result<(), LdapFailure>;
/// The attributes of a new entry.
pub type NewEntry = Vec<(String, HashSet<String>)>;

pub trait Directory {
    /// The base DN the FreeIPA containers are under.
    fn base_dn(&self) -> &str;
    /// The entries under `base` (per `scope`) matching `filter`.
    fn search(&mut self, base: &str, scope: Scope, filter: &str, attrs: &[&str]) -> Found;
    fn add(&mut self, dn: &str, attrs: NewEntry) -> Written;
    fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Written;
    fn delete(&mut self, dn: &str) -> Written;
}

impl Directory for Connection {
    fn base_dn(&self) -> &str {
        &self.cfg.base_dn
    }

    fn search(&mut self, base: &str, scope: Scope, filter: &str, attrs: &[&str]) -> Found {
        crate::fetch::search(self, base, scope, filter, attrs)
    }

    fn add(&mut self, dn: &str, attrs: NewEntry) -> Written {
        written(self.op().add(dn, attrs))
    }

    fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Written {
        written(self.op().modify(dn, mods))
    }

    fn delete(&mut self, dn: &str) -> Written {
        written(self.op().delete(dn))
    }
}

/// A write's outcome: done, or the server's error result, or no answer.
fn written(r: ldap3::result::Result<ldap3::LdapResult>) -> Written {
    match r {
        Ok(res) if res.rc == 0 => Ok(()),
        Ok(res) => Err(LdapFailure::Result(ResultError::from(&res))),
        Err(ldap3::LdapError::LdapResult { result }) => {
            Err(LdapFailure::Result(ResultError::from(&result)))
        }
        Err(e) => Err(LdapFailure::Transport(e.to_string())),
    }
}
