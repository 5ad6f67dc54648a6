//! sssd.conf `[session_recording]`, parsed and evaluated exactly as SSSD 2.8
//! does (see the crate docs for the list of rules and the few documented
//! differences).
//!
//! The parser is pure (`parse_ini`, `SssdRecording::from_sections`); the file
//! adapter (`load`) reads sssd.conf and its `conf.d/*.conf` snippets.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::PolicyError;
use crate::facts::LoginFacts;
use crate::fast::FastSet;
use crate::source_file::{read_checked, FileStamp};

/// `scope` of `[session_recording]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    None,
    Some,
    All,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::None => "none",
            Scope::Some => "some",
            Scope::All => "all",
        }
    }
}

/// One `key = value` as SSSD keeps it: the last occurrence wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniValue {
    pub value: String,
    pub file: String,
    pub line: usize,
}

/// The `[session_recording]` keys after merging every file (lower-cased key
/// -> last value). Other sections are not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRecordingSection {
    pub found: bool,
    pub keys: Vec<(String, IniValue)>,
}

impl SessionRecordingSection {
    /// Merge a later file's section over this one (`INI_MV2S_OVERWRITE`).
    pub fn merge(&mut self, later: SessionRecordingSection) {
        self.found |= later.found;
        for (k, v) in later.keys {
            self.set(k, v);
        }
    }

    fn set(&mut self, key: String, value: IniValue) {
        if let Some(slot) = self.keys.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.keys.push((key, value));
        }
    }

    pub fn get(&self, key: &str) -> Option<&IniValue> {
        self.keys.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

const SECTION: &str = "session_recording";

/// Parse one ini file the way SSSD's libini_config call does
/// (`INI_PARSE_NOWRAP`, `INI_MV1S_OVERWRITE`): comment lines start with `#` or
/// `;` after optional whitespace; section and key names are compared
/// case-insensitively; the value is everything after the first `=`, trimmed,
/// with `#`, `;` and quotes kept literally; no line continuation; a duplicate
/// key overwrites. Lines that are neither comment, section nor `key = value`
/// are errors (SSSD refuses to start on them). Returns the number of
/// section headers seen.
pub fn parse_ini(
    text: &str,
    file: &str,
    into: &mut SessionRecordingSection,
) -> Result<usize, PolicyError> {
    let mut in_section = false;
    let mut sections = 0;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(end) = rest.find(']') else {
                return Err(PolicyError::new(
                    file,
                    Some(line_no),
                    "section header without closing ']'",
                ));
            };
            if !rest[end + 1..].trim().is_empty() {
                return Err(PolicyError::new(
                    file,
                    Some(line_no),
                    "text after the section header's ']'",
                ));
            }
            let name = rest[..end].trim();
            if name.is_empty() {
                return Err(PolicyError::new(file, Some(line_no), "empty section name"));
            }
            sections += 1;
            in_section = name.eq_ignore_ascii_case(SECTION);
            if in_section {
                into.found = true;
            }
            continue;
        }
        let Some(eq) = line.find('=') else {
            return Err(PolicyError::new(
                file,
                Some(line_no),
                format!(
                    "expected `key = value`, a [section] or a comment, found {:?}",
                    raw
                ),
            ));
        };
        let key = line[..eq].trim();
        if key.is_empty() {
            return Err(PolicyError::new(
                file,
                Some(line_no),
                "missing key name before '='",
            ));
        }
        if in_section {
            let value = trim_c_space(&line[eq + 1..]).to_string();
            into.set(
                key.to_ascii_lowercase(),
                IniValue {
                    value,
                    file: file.to_string(),
                    line: line_no,
                },
            );
        }
    }
    Ok(sections)
}

/// C `isspace` in the "C" locale: space, \t, \n, \v, \f, \r.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn trim_c_space(s: &str) -> &str {
    s.trim_matches(is_c_space)
}

/// SSSD's `split_on_separator(str, ',', trim=true, skip_empty=true)`.
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(trim_c_space)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The effective `[session_recording]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SssdRecording {
    pub scope: Scope,
    pub users: FastSet,
    pub groups: FastSet,
    pub exclude_users: FastSet,
    pub exclude_groups: FastSet,
    /// Where it came from, for messages.
    pub origin: String,
    /// The merged section as read (for `validate`'s warnings).
    pub section: SessionRecordingSection,
    /// Files SSSD would not read (skipped snippets, a main file SSSD would
    /// refuse), as warnings for `validate`.
    pub skipped: Vec<PolicyError>,
}

/// What sssd.conf says about one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SssdVerdict {
    /// Selected for recording; the string says why.
    Record(String),
    /// Excluded by `exclude_users` / `exclude_groups` under `scope = all`.
    Exempt(String),
    /// Not selected (scope none, or some without a match).
    NoMatch(&'static str),
}

impl SssdRecording {
    /// Build from the merged section. An invalid scope is an error: SSSD
    /// refuses to start with it, so the policy falls back to fail-secure.
    pub fn from_section(sec: &SessionRecordingSection, origin: &str) -> Result<Self, PolicyError> {
        let list = |key: &str| -> FastSet {
            sec.get(key)
                .map(|v| split_list(&v.value).into_iter().collect())
                .unwrap_or_default()
        };
        let scope = match sec.get("scope") {
            None => Scope::None,
            // An empty value is dropped by SSSD's loader: unset = none.
            Some(v) if trim_c_space(&v.value).is_empty() => Scope::None,
            Some(v) => match v.value.to_ascii_lowercase().as_str() {
                "none" => Scope::None,
                "some" => Scope::Some,
                "all" => Scope::All,
                _ => {
                    return Err(PolicyError::new(
                        v.file.clone(),
                        Some(v.line),
                        format!(
                            "[session_recording] scope = {:?}: expected none, some or all \
                             (SSSD refuses to start with this value)",
                            v.value
                        ),
                    ))
                }
            },
        };
        Ok(SssdRecording {
            scope,
            users: list("users"),
            groups: list("groups"),
            exclude_users: list("exclude_users"),
            exclude_groups: list("exclude_groups"),
            origin: origin.to_string(),
            section: sec.clone(),
            skipped: Vec::new(),
        })
    }

    /// Keys SSSD 2.8 accepts in the section; others only warn there, and we
    /// report them from `validate` the same way.
    pub fn unknown_keys(sec: &SessionRecordingSection) -> Vec<&IniValue> {
        const KNOWN: &[&str] = &[
            "scope",
            "users",
            "groups",
            "exclude_users",
            "exclude_groups",
            "description",
        ];
        sec.keys
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()) && !k.starts_with("debug"))
            .map(|(_, v)| v)
            .collect()
    }

    /// Things SSSD accepts but that probably do not do what the admin
    /// meant: unknown keys, and lists the scope ignores.
    pub fn warnings(&self) -> Vec<PolicyError> {
        let sec = &self.section;
        let mut out = self.skipped.clone();
        out.extend(Self::unknown_keys(sec).into_iter().map(|v| {
            PolicyError::new(
                v.file.clone(),
                Some(v.line),
                "unknown key in [session_recording]: SSSD ignores it",
            )
        }));
        let ignored = |key: &str, scope: &str| {
            sec.get(key).map(|v| {
                PolicyError::new(
                    v.file.clone(),
                    Some(v.line),
                    format!("{key} is ignored with scope = {scope}"),
                )
            })
        };
        match self.scope {
            Scope::Some => {
                out.extend(ignored("exclude_users", "some"));
                out.extend(ignored("exclude_groups", "some"));
            }
            Scope::All => {
                out.extend(ignored("users", "all"));
                out.extend(ignored("groups", "all"));
            }
            Scope::None => {}
        }
        if !sec.found {
            out.push(PolicyError::new(
                self.origin.clone(),
                None,
                "no [session_recording] section: sssd.conf records nobody",
            ));
        }
        out
    }

    /// SSSD's decision (spec §1.4). `G(user)` = primary group (by gid, if it
    /// exists) ∪ supplementary groups; names compared byte-exactly.
    pub fn evaluate(&self, facts: &LoginFacts) -> SssdVerdict {
        let groups = || facts.primary_group.iter().chain(facts.groups.iter());
        match self.scope {
            Scope::None => SssdVerdict::NoMatch("scope = none records nobody"),
            Scope::Some => {
                if self.users.contains(&facts.user) {
                    SssdVerdict::Record(format!(
                        "user {:?} is listed in users (scope = some)",
                        facts.user
                    ))
                } else if let Some(g) = groups().find(|g| self.groups.contains(*g)) {
                    SssdVerdict::Record(format!(
                        "member of group {g:?} listed in groups (scope = some)"
                    ))
                } else {
                    SssdVerdict::NoMatch("not listed in users or groups (scope = some)")
                }
            }
            Scope::All => {
                if self.exclude_users.contains(&facts.user) {
                    SssdVerdict::Exempt(format!(
                        "user {:?} is listed in exclude_users (scope = all)",
                        facts.user
                    ))
                } else if let Some(g) = groups().find(|g| self.exclude_groups.contains(*g)) {
                    SssdVerdict::Exempt(format!(
                        "member of group {g:?} listed in exclude_groups (scope = all)"
                    ))
                } else {
                    SssdVerdict::Record("scope = all records everyone not excluded".into())
                }
            }
        }
    }
}

/// The `conf.d` directory SSSD reads next to sssd.conf.
pub fn default_conf_dir(conf: &Path) -> PathBuf {
    conf.parent().unwrap_or(Path::new("/")).join("conf.d")
}

/// Read sssd.conf and then its snippets: `*.conf` files in `conf_dir` not
/// starting with '.', in byte order of their names (SSSD's order); later
/// values overwrite earlier ones. Like SSSD (ding-libs `ini_config_augment`),
/// a snippet is skipped, not fatal, when it fails SSSD's access check, does
/// not parse, or has no section; each skip becomes a `validate` warning. A
/// missing conf.d is fine; a missing or broken sssd.conf is an error (SSSD
/// refuses to start). Returns the files read, with their stamps, so a cache
/// can notice changes.
pub fn load(
    conf: &Path,
    conf_dir: Option<&Path>,
) -> Result<(SssdRecording, Vec<FileStamp>), PolicyError> {
    let mut stamps = Vec::new();
    let mut skipped = Vec::new();
    let mut section = SessionRecordingSection::default();
    let (text, stamp) = read_checked(conf)?;
    stamps.push(stamp);
    let conf_name = conf.display().to_string();
    parse_ini(&text, &conf_name, &mut section)?;
    if let Ok(m) = std::fs::metadata(conf) {
        if m.mode() & 0o077 != 0 {
            skipped.push(PolicyError::new(
                &conf_name,
                None,
                format!(
                    "mode {:04o}: SSSD refuses to start unless only the owner can read it (chmod 600)",
                    m.mode() & 0o7777
                ),
            ));
        }
    }
    let dir = conf_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_conf_dir(conf));
    for snippet in snippet_files(&dir, &mut stamps)? {
        let name = snippet.display().to_string();
        let skip =
            |why: String| PolicyError::new(&name, None, format!("SSSD skips this snippet: {why}"));
        let mut file = match std::fs::File::open(&snippet) {
            Ok(f) => f,
            Err(e) => {
                stamps.push(FileStamp::missing(&snippet));
                skipped.push(skip(PolicyError::io(&name, &e).message));
                continue;
            }
        };
        let meta = file.metadata().map_err(|e| PolicyError::io(&name, &e))?;
        stamps.push(FileStamp::of(&snippet).unwrap_or_else(|_| FileStamp::missing(&snippet)));
        if let Some(why) = snippet_access_problem(&meta) {
            skipped.push(skip(why));
            continue;
        }
        let mut bytes = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut file, &mut bytes) {
            skipped.push(skip(PolicyError::io(&name, &e).message));
            continue;
        }
        let Ok(text) = String::from_utf8(bytes) else {
            skipped.push(skip("not valid UTF-8".into()));
            continue;
        };
        let mut own = SessionRecordingSection::default();
        match parse_ini(&text, &name, &mut own) {
            Err(e) => skipped.push(PolicyError::new(
                &name,
                e.line,
                format!("SSSD skips this snippet: {}", e.message),
            )),
            Ok(0) => skipped.push(skip("it has no [section]".into())),
            Ok(_) => section.merge(own),
        }
    }
    let mut rec = SssdRecording::from_section(&section, &conf_name)?;
    rec.skipped = skipped;
    Ok((rec, stamps))
}

/// SSSD's access check for snippets (`sss_ini_add_snippets`): readable by
/// the owner, no permission bits for group or others; when it runs as root,
/// also owned by root:root. Returns why a snippet fails it.
fn snippet_access_problem(meta: &std::fs::Metadata) -> Option<String> {
    if !meta.is_file() {
        return Some("not a regular file".into());
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o7477 != 0o400 {
        return Some(format!(
            "mode {mode:04o}: snippets must be readable by their owner only (chmod 600)"
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 && (meta.uid() != 0 || meta.gid() != 0) {
        return Some(format!(
            "owned by {}:{}, must be root:root",
            meta.uid(),
            meta.gid()
        ));
    }
    if meta.uid() != 0 && meta.uid() != euid {
        return Some(format!("owned by uid {}", meta.uid()));
    }
    None
}

/// Snippet paths in SSSD's order. The directory itself is stamped so that an
/// added or removed snippet triggers a reload.
fn snippet_files(dir: &Path, stamps: &mut Vec<FileStamp>) -> Result<Vec<PathBuf>, PolicyError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            stamps.push(FileStamp::missing(dir));
            return Ok(Vec::new());
        }
        Err(e) => return Err(PolicyError::io(dir.display().to_string(), &e)),
    };
    crate::source_file::check_dir(dir)?;
    stamps.push(FileStamp::of(dir).map_err(|e| PolicyError::io(dir.display().to_string(), &e))?);
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| PolicyError::io(dir.display().to_string(), &e))?;
        let name = entry.file_name();
        let bytes = name.as_encoded_bytes();
        if bytes.starts_with(b".") || !bytes.ends_with(b".conf") || bytes.len() <= 5 {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            continue;
        }
        names.push(path);
    }
    names.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(names)
}
