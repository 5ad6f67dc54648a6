//! The rules file (`/etc/audit/rules.d/50-tlog-rs.rules`): what it should
//! hold for a policy, its atomic write, and its refresh after `tlog-rs sync`
//! (FreeIPA group membership decides which auids get rules).

use std::path::Path;

use tlog_rs_policy::atomic_file::{self, Durability};
use tlog_rs_policy::{AuditLevel, Policy};

use crate::rules::{render, WITH_B32};
use crate::select::{self, AuditPlan, Directory, Selector};

/// The rules text for `policy_path` on `host`, and, when the policy could
/// not be read or resolved, why every logged-in user got the session rules
/// instead (fail-secure: every login is then recorded).
pub fn expected(policy_path: &Path, host: &str, dir: &dyn Directory) -> (String, Option<String>) {
    let (plan, broken) = match Policy::load(policy_path) {
        Ok(p) => match select::plan(&p, host, dir) {
            Ok(plan) => (plan, None),
            Err(e) => (
                everyone(),
                Some(format!("{e}: auditing every logged-in user (fail-secure)")),
            ),
        },
        Err(e) => (
            everyone(),
            Some(format!(
                "{e}: every login is recorded, so every logged-in user gets the session rules"
            )),
        ),
    };
    (render(&plan, WITH_B32), broken)
}

fn everyone() -> AuditPlan {
    AuditPlan {
        everyone: Some(AuditLevel::Session),
        selectors: vec![Selector::Everyone { except: Vec::new() }],
        ..AuditPlan::default()
    }
}

/// The rules file replaced atomically and flushed (mode 0640): readers
/// (augenrules) see the old or the new file, never half of one.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    atomic_file::write_atomic(path, text.as_bytes(), 0o640, Durability::Fsync)
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// No rules file: this host does not use the audit levels.
    NotInstalled,
    Unchanged,
    /// Rewritten; `broken` as in [`expected`].
    Written {
        broken: Option<String>,
    },
}

/// Rewrite the rules file at `path` if it exists and no longer matches the
/// policy (after a sync changed FreeIPA rules or group membership). Loading
/// the new rules into the kernel stays with `augenrules --load`.
pub fn refresh(
    path: &Path,
    policy_path: &Path,
    host: &str,
    dir: &dyn Directory,
) -> Result<Refresh, String> {
    let current = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Refresh::NotInstalled),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let (text, broken) = expected(policy_path, host, dir);
    if text == current {
        return Ok(Refresh::Unchanged);
    }
    write_atomic(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Refresh::Written { broken })
}
