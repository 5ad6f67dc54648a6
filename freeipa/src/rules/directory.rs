//! What `tlog-rs rules` needs from the directory: searches and the three
//! writes. [`Connection`] is the LDAP implementation; the unit tests use an
//! in-memory one, so planning and execution are tested without a server.

use std::collections::HashSet;

use ldap3::{Mod, Scope};

use crate::conn::Connection;
use crate::ldaperr::{LdapFailure, OpError, ResultError};
use crate::resolve::Entry;

pub trait Directory {
    /// The base DN the FreeIPA containers are under.
    fn base_dn(&self) -> &str;
    /// The entries under `base` (per `scope`) matching `filter`.
    fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<Entry>, OpError>;
    fn add(&mut self, dn: &str, attrs: Vec<(String, HashSet<String>)>) -> Result<(), LdapFailure>;
    fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Result<(), LdapFailure>;
    fn delete(&mut self, dn: &str) -> Result<(), LdapFailure>;
}

impl Directory for Connection {
    fn base_dn(&self) -> &str {
        &self.cfg.base_dn
    }

    fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<Entry>, OpError> {
        crate::fetch::search(self, base, scope, filter, attrs)
    }

    fn add(&mut self, dn: &str, attrs: Vec<(String, HashSet<String>)>) -> Result<(), LdapFailure> {
        written(self.op().add(dn, attrs))
    }

    fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Result<(), LdapFailure> {
        written(self.op().modify(dn, mods))
    }

    fn delete(&mut self, dn: &str) -> Result<(), LdapFailure> {
        written(self.op().delete(dn))
    }
}

/// A write's outcome: done, or the server's error result, or no answer.
fn written(r: ldap3::result::Result<ldap3::LdapResult>) -> Result<(), LdapFailure> {
    match r {
        Ok(res) if res.rc == 0 => Ok(()),
        Ok(res) => Err(LdapFailure::Result(ResultError::from(&res))),
        Err(ldap3::LdapError::LdapResult { result }) => {
            Err(LdapFailure::Result(ResultError::from(&result)))
        }
        Err(e) => Err(LdapFailure::Transport(e.to_string())),
    }
}
