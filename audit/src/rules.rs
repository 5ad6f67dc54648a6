//! The audit rules of the `session` level, as text for
//! `/etc/audit/rules.d/50-tlog-rs.rules`, and their semantic comparison with
//! the rules the kernel holds (`auditctl -l`).
//!
//! The kernel cannot match groups, PAM services or hosts: rules select
//! audit uids (`auid`, set by pam_loginuid at login). `login` needs no rule
//! at all (the user-space records USER_AUTH … CRED_* are always emitted
//! while audit is enabled), so only `session` users appear here.

use std::collections::BTreeSet;
use std::fmt;

use crate::select::{AuditPlan, Selector};

/// Every key we put on a rule starts with this; `--check` and the tests
/// only ever look at (and delete) rules with such a key.
pub const KEY_PREFIX: &str = "tlog-rs-";
/// Where `tlog-rs audit-rules` writes by default (augenrules reads it).
pub const DEFAULT_RULES_PATH: &str = "/etc/audit/rules.d/50-tlog-rs.rules";

/// The auid of a process that never logged in (`unset`, printed as -1).
pub const AUID_UNSET: u32 = u32::MAX;

/// One rule family: a key and the syscalls per architecture.
struct Family {
    key: &'static str,
    comment: &'static str,
    /// (syscalls, extra fields) for b64, then for b32 (i386).
    b64: &'static [(&'static str, &'static str)],
    b32: &'static [(&'static str, &'static str)],
}

// O_WRONLY|O_RDWR|O_CREAT|O_TRUNC = 01|02|0100|01000 = 01103: any open that
// can change a file. open(2) has the flags in a1, openat(2) in a2.
const FILE_OTHER_B64: &str = "creat,truncate,ftruncate,unlink,unlinkat,rename,renameat,renameat2,chmod,fchmod,fchmodat,chown,fchown,fchownat,lchown";
const FILE_OTHER_B32: &str = "creat,truncate,truncate64,ftruncate,ftruncate64,unlink,unlinkat,rename,renameat,renameat2,chmod,fchmod,fchmodat,chown,chown32,fchown,fchown32,fchownat,lchown,lchown32";

const FAMILIES: &[Family] = &[
    Family {
        key: "tlog-rs-exec",
        comment: "Commands run (SYSCALL + EXECVE argv + CWD + PATH + PROCTITLE)",
        b64: &[("execve,execveat", "")],
        b32: &[("execve,execveat", "")],
    },
    Family {
        key: "tlog-rs-file",
        comment: "Files opened for writing/created/truncated, deleted, renamed, chmod, chown (successful only)",
        b64: &[
            ("open", "-F a1&01103 -F success=1"),
            ("openat,open_by_handle_at", "-F a2&01103 -F success=1"),
            (FILE_OTHER_B64, "-F success=1"),
        ],
        b32: &[
            ("open", "-F a1&01103 -F success=1"),
            ("openat,open_by_handle_at", "-F a2&01103 -F success=1"),
            (FILE_OTHER_B32, "-F success=1"),
        ],
    },
    Family {
        key: "tlog-rs-net",
        comment: "Sockets connected, accepted, bound (SOCKADDR); i386 has no plain accept",
        b64: &[("connect,accept,accept4,bind", "")],
        b32: &[("connect,accept4,bind", "")],
    },
    Family {
        key: "tlog-rs-exit",
        comment: "Process exits (exit status in a0)",
        b64: &[("exit,exit_group", "")],
        b32: &[("exit,exit_group", "")],
    },
];

/// Whether to emit the i386 (b32) rules: 32-bit programs bypass b64 rules,
/// and x86_64 kernels run them (CONFIG_IA32_EMULATION). The syscall names
/// above are x86's; other architectures get the b64 rules only.
pub const WITH_B32: bool = cfg!(target_arch = "x86_64");

/// The `-F` fields that select the audited logins.
fn selector_fields(sel: &Selector) -> Vec<String> {
    match sel {
        Selector::Uid(u) => vec![format!("-F auid={u}")],
        Selector::Range(a, b) => vec![format!("-F auid>={a}"), format!("-F auid<={b}")],
        Selector::Everyone { except } => {
            let mut v = vec!["-F auid!=unset".to_string()];
            v.extend(except.iter().map(|u| format!("-F auid!={u}")));
            v
        }
    }
}

/// The rule lines of one family for these selectors.
fn family_lines(f: &Family, selectors: &[Selector], with_b32: bool) -> Vec<String> {
    let mut out = Vec::new();
    for sel in selectors {
        let sf = selector_fields(sel).join(" ");
        let mut arches = vec![("b64", f.b64)];
        if with_b32 {
            arches.push(("b32", f.b32));
        }
        for (arch, list) in arches {
            for (sys, extra) in list {
                let extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!(" {extra}")
                };
                out.push(format!(
                    "-a always,exit -F arch={arch} -S {sys}{extra} {sf} -F key={}",
                    f.key
                ));
            }
        }
    }
    out
}

/// The rule lines (no comments) for these selectors.
pub fn rule_lines(selectors: &[Selector], with_b32: bool) -> Vec<String> {
    FAMILIES
        .iter()
        .flat_map(|f| family_lines(f, selectors, with_b32))
        .collect()
}

/// The whole rules file: a header saying it is generated and for whom,
/// then the rules grouped by family.
pub fn render(plan: &AuditPlan, with_b32: bool) -> String {
    let mut s = format!(
        "## {DEFAULT_RULES_PATH}: generated by `tlog-rs audit-rules` from the tlog-rs policy.\n\
         ## Do not edit: regenerate (`tlog-rs audit-rules`, also after group membership changes),\n\
         ## then `augenrules --load`. With `auditctl -s` showing `enabled 2` (locked) the\n\
         ## new rules take effect only after a reboot. See docs/audit.md.\n"
    );
    s.push_str(
        "## Level \"login\" needs no rule: USER_AUTH, USER_ACCT, USER_LOGIN, USER_START/END and\n\
         ## CRED_* are sent by libpam/sshd whenever audit is enabled (auditd running) and\n\
         ## pam_loginuid.so sets the login's auid/ses in the session stack.\n\
         ## Recommended companions: --loginuid-immutable (11-loginuid.rules) and the kernel\n\
         ## argument audit=1.\n",
    );
    for line in plan.describe() {
        s.push_str(&format!("## {line}\n"));
    }
    if plan.selectors.is_empty() {
        s.push_str("## No login has audit level \"session\": no rules.\n");
        return s;
    }
    for f in FAMILIES {
        s.push_str(&format!("## {}\n", f.comment));
        for line in family_lines(f, &plan.selectors, with_b32) {
            s.push_str(&line);
            s.push('\n');
        }
    }
    s
}

/// A rule reduced to what the kernel holds, so that two spellings of the
/// same rule compare equal: `-k`/`-F key=`, syscall order, field order,
/// numbers in octal/hex/decimal, `unset`/`-1`, `always,exit`/`exit,always`,
/// `b64`/`x86_64`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub list: String,
    pub action: String,
    pub syscalls: BTreeSet<String>,
    /// (field, operator, normalised value), arch and key included.
    pub fields: BTreeSet<(String, String, String)>,
    /// The text it was parsed from (for messages; not compared).
    pub text: String,
}

impl Rule {
    /// The rule's key, if any.
    pub fn key(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _, _)| n == "key")
            .map(|(_, _, v)| v.as_str())
    }

    fn same(&self, other: &Rule) -> bool {
        self.list == other.list
            && self.action == other.action
            && self.syscalls == other.syscalls
            && self.fields == other.fields
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A rule line we cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RuleError {}

const OPERATORS: &[&str] = &["!=", ">=", "<=", "&=", "=", ">", "<", "&"];

/// Numbers as auditctl reads them (strtoul base 0: 0x hex, 0 octal), and
/// `unset`/`-1` for the unset id, all as decimal text; anything else as is.
fn norm_value(field: &str, v: &str) -> String {
    if v == "unset" || v == "-1" {
        return AUID_UNSET.to_string();
    }
    if field == "arch" {
        return match v {
            "b64" | "x86_64" | "c000003e" => "b64".into(),
            "b32" | "i386" | "i686" | "40000003" => "b32".into(),
            other => other.into(),
        };
    }
    if field == "key" {
        return v.to_string();
    }
    let parsed = if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if v.len() > 1 && v.starts_with('0') {
        u64::from_str_radix(&v[1..], 8).ok()
    } else {
        v.parse::<u64>().ok()
    };
    parsed
        .map(|n| n.to_string())
        .unwrap_or_else(|| v.to_string())
}

fn parse_field(spec: &str) -> Result<(String, String, String), String> {
    // The first operator occurrence (longest first at the same position).
    let mut best: Option<(usize, &str)> = None;
    for op in OPERATORS {
        if let Some(i) = spec.find(op) {
            if best.is_none_or(|(j, o)| i < j || (i == j && op.len() > o.len())) {
                best = Some((i, op));
            }
        }
    }
    let (i, op) = best.ok_or_else(|| format!("-F {spec:?}: no operator"))?;
    let name = &spec[..i];
    let value = &spec[i + op.len()..];
    if name.is_empty() || value.is_empty() {
        return Err(format!("-F {spec:?}: expected NAME OP VALUE"));
    }
    // `a2&01103` and `a2&=01103` are the same mask test.
    let op = if op == "&=" { "&" } else { op };
    Ok((name.to_string(), op.to_string(), norm_value(name, value)))
}

/// Parse one `-a`/`-A` rule line (as in a rules file or `auditctl -l`).
/// `Ok(None)` for lines that are no syscall rule (comments, blank,
/// `No rules`, control lines such as `-e 1`).
pub fn parse_rule(text: &str) -> Result<Option<Rule>, String> {
    let t = text.trim();
    if !(t.starts_with("-a ") || t.starts_with("-A ")) {
        return Ok(None);
    }
    let mut toks = t.split_whitespace();
    let mut list_action = None;
    let mut syscalls = BTreeSet::new();
    let mut fields = BTreeSet::new();
    while let Some(tok) = toks.next() {
        let mut value = |what: &str| {
            toks.next()
                .ok_or_else(|| format!("{what} without a value"))
                .map(str::to_string)
        };
        match tok {
            "-a" | "-A" => list_action = Some(value(tok)?),
            "-S" => {
                for s in value("-S")?.split(',').filter(|s| !s.is_empty()) {
                    syscalls.insert(s.to_string());
                }
            }
            "-F" => {
                fields.insert(parse_field(&value("-F")?)?);
            }
            "-k" => {
                fields.insert(("key".into(), "=".into(), value("-k")?));
            }
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    let la = list_action.ok_or("no -a")?;
    let (a, b) = la
        .split_once(',')
        .ok_or_else(|| format!("-a {la:?}: expected LIST,ACTION"))?;
    let is_action = |s: &str| s == "always" || s == "never";
    let (list, action) = if is_action(a) { (b, a) } else { (a, b) };
    if !is_action(action) {
        return Err(format!("-a {la:?}: no action (always or never)"));
    }
    Ok(Some(Rule {
        list: list.to_string(),
        action: action.to_string(),
        syscalls,
        fields,
        text: t.to_string(),
    }))
}

/// Every rule in a rules file or an `auditctl -l` listing.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RuleError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        match parse_rule(line) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(message) => {
                return Err(RuleError {
                    line: i + 1,
                    message,
                })
            }
        }
    }
    Ok(out)
}

/// What `--check` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drift {
    /// Expected, not loaded.
    pub missing: Vec<Rule>,
    /// Loaded with one of our keys, not expected.
    pub extra: Vec<Rule>,
}

impl Drift {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty()
    }
}

/// Compare the expected rules with the loaded ones (`auditctl -l` output).
/// Loaded rules without a `tlog-rs-` key belong to others and are ignored;
/// duplicates count (a rule loaded twice is one extra).
pub fn check(expected: &[Rule], loaded_listing: &str) -> Result<Drift, RuleError> {
    let loaded: Vec<Rule> = parse_rules(loaded_listing)?
        .into_iter()
        .filter(|r| r.key().is_some_and(|k| k.starts_with(KEY_PREFIX)))
        .collect();
    let mut unmatched: Vec<Option<Rule>> = loaded.into_iter().map(Some).collect();
    let mut drift = Drift::default();
    for e in expected {
        match unmatched
            .iter_mut()
            .find(|l| l.as_ref().is_some_and(|l| l.same(e)))
        {
            Some(slot) => *slot = None,
            None => drift.missing.push(e.clone()),
        }
    }
    drift.extra = unmatched.into_iter().flatten().collect();
    Ok(drift)
}
