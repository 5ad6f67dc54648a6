//! The words of the configuration languages, each defined once: policy.toml,
//! the FreeIPA cache and rules, tlog's recorder schema and the CLI all parse
//! and print them through these enums, and the lists of valid values derive
//! from them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value that is none of an enum's words; Display says which are valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub value: String,
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: expected one of {}",
            self.value,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownValue {}

/// An enum of lowercase words: `NAMES`, `as_str`, `FromStr`, `Display` and
/// serde as the same words.
macro_rules! words {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)+
        }

        impl $name {
            /// Every valid word, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($s),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err(UnknownValue { value: s.to_string(), expected: Self::NAMES }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// Record the session or exempt it: a policy.toml rule's `action`, a
    /// FreeIPA rule's `ipaSessionRecordingMode`.
    pub enum Action {
        Record = "record",
        Exempt = "exempt",
    }
}

words! {
    /// How much the recorder logs about the session besides the terminal I/O.
    #[derive(Default)]
    pub enum AuditLevel {
        #[default]
        None = "none",
        Login = "login",
        Session = "session",
    }
}

words! {
    /// What the recorder does when the rate limit is exceeded (`limit.action`).
    pub enum LimitAction {
        Pass = "pass",
        Delay = "delay",
        Drop = "drop",
    }
}

words! {
    /// What to do when the FreeIPA cache is older than `max_age` (`on_stale`).
    pub enum OnStale {
        /// Record every login the FreeIPA source is consulted for (fail-secure).
        Record = "record",
        /// Keep using the stale rules.
        Use = "use",
    }
}

words! {
    /// Where the recorder writes (`writer` in tlog's schema).
    pub enum WriterKind {
        Journal = "journal",
        Syslog = "syslog",
        File = "file",
    }
}

words! {
    /// A rule's choice for terminals opened inside a graphical login
    /// (`graphical` in policy.toml). The desktop itself is never recorded.
    #[derive(Default)]
    pub enum Graphical {
        #[default]
        Skip = "skip",
        RecordTerminals = "record-terminals",
    }
}

impl AuditLevel {
    /// Parse `none|login|session`, case-insensitive (the hand-off's spelling
    /// is not ours to police).
    pub fn parse(s: &str) -> Option<AuditLevel> {
        s.to_ascii_lowercase().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_through_str_display_and_serde() {
        for n in LimitAction::NAMES {
            let a: LimitAction = n.parse().unwrap();
            assert_eq!(a.to_string(), *n);
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{n}\""));
        }
        for n in Action::NAMES {
            let a: Action = serde_json::from_str(&format!("\"{n}\"")).unwrap();
            assert_eq!(a.as_str(), *n);
        }
        assert_eq!(AuditLevel::default(), AuditLevel::None);
        assert_eq!(AuditLevel::parse("SESSION"), Some(AuditLevel::Session));
        assert_eq!(WriterKind::NAMES, ["journal", "syslog", "file"]);
    }

    #[test]
    fn unknown_words_are_errors_naming_the_valid_ones() {
        let e = "Record".parse::<Action>().unwrap_err();
        assert_eq!(e.to_string(), "\"Record\": expected one of record, exempt");
        assert!("tape".parse::<WriterKind>().is_err());
        assert!(serde_json::from_str::<LimitAction>("\"slow\"").is_err());
    }
}
