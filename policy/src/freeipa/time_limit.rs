//! FreeIPA `accessTime` on a session-recording rule. tlog-rs does not
//! evaluate time windows (freeipa-schema/README.md, "Time-limited rules"):
//! a time limit may only ever widen recording. An exempt rule that carries
//! one is never applied; a record rule that carries one records at all times.
//! No value is parsed, so no value can make a rule apply less than this.

use std::fmt;

use super::IpaMatch;
use crate::vocab::Action;

/// What tlog-rs does with a rule that carries `accessTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimitHandling {
    /// An exempt rule: never applied, at any time; the next rule decides.
    ExemptionNeverApplied,
    /// A record rule: applied at all times, as if it had no time limit.
    RecordsAlways,
}

impl TimeLimitHandling {
    pub fn for_mode(mode: Action) -> TimeLimitHandling {
        match mode {
            Action::Exempt => TimeLimitHandling::ExemptionNeverApplied,
            Action::Record => TimeLimitHandling::RecordsAlways,
        }
    }

    /// Short form for tables (`tlog-rs rules list`).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeLimitHandling::ExemptionNeverApplied => "never-applied",
            TimeLimitHandling::RecordsAlways => "always-records",
        }
    }
}

impl fmt::Display for TimeLimitHandling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeLimitHandling::ExemptionNeverApplied => {
                "time limits are not evaluated, so this exemption is never applied \
                 (its users are decided as if the rule did not exist)"
            }
            TimeLimitHandling::RecordsAlways => {
                "time limits are not evaluated, so this rule records at all times"
            }
        })
    }
}

/// `"v1", "v2"`: accessTime values quoted for messages (control characters
/// escaped, so a directory value cannot forge output lines).
pub fn quote_values(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl IpaMatch {
    /// Words about time limits for the decision's reason: empty when no
    /// time-limited rule took part, else starting with "; ".
    pub fn time_note(&self) -> String {
        let mut s = String::new();
        if !self.time_limit.is_empty() {
            s.push_str(&format!(
                "; its accessTime {} is not evaluated: it records at all times",
                quote_values(&self.time_limit)
            ));
        }
        if !self.unapplied_exemptions.is_empty() {
            let names: Vec<String> = self
                .unapplied_exemptions
                .iter()
                .map(|n| format!("'{n}'"))
                .collect();
            s.push_str(&format!(
                "; time-limited exempt rule(s) {} also match but are never applied (accessTime is not evaluated)",
                names.join(", ")
            ));
        }
        s
    }
}
