//! Which recordings are expired. When several `[[retention.rule]]`s match
//! a recording the LONGEST max age applies: nothing is purged that any
//! rule still wants kept. Recordings no rule matches get
//! `default_max_age`, or are kept forever without one.

use tlog_rs_index::config::{Config, MaxAge, RetentionRule, RetentionScope};
use tlog_rs_index::store::{Hold, RetentionRow};

fn rule_matches(cfg: &Config, rule: &RetentionRule, r: &RetentionRow) -> bool {
    match &rule.scope {
        RetentionScope::HostGroup(g) => cfg
            .hostgroups
            .get(g)
            .is_some_and(|hosts| hosts.iter().any(|h| h == &r.host)),
        RetentionScope::UserGroup(g) => r.groups.iter().any(|x| x == g),
    }
}

/// The max age that applies to `r`; None: kept forever.
pub fn max_age(cfg: &Config, r: &RetentionRow) -> Option<MaxAge> {
    cfg.retention
        .rules
        .iter()
        .filter(|rule| rule_matches(cfg, rule, r))
        .map(|rule| rule.max_age)
        .max()
        .or(cfg.retention.default_max_age)
}

/// Whether a purge of `r` archives it first (given `archive_dir`): yes
/// unless every rule that matches it says `archive = false`.
pub fn archives(cfg: &Config, r: &RetentionRow) -> bool {
    let mut matching = cfg
        .retention
        .rules
        .iter()
        .filter(|rule| rule_matches(cfg, rule, r))
        .peekable();
    matching.peek().is_none() || matching.any(|rule| rule.archive)
}

/// An expired recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub row: RetentionRow,
    pub max_age: MaxAge,
    /// Set: under legal hold, so kept.
    pub hold: Option<Hold>,
}

/// The recordings of `rows` older than their max age at `now_ms`. Age runs
/// from the end of the session (its start when it never ended).
pub fn select(
    cfg: &Config,
    rows: Vec<RetentionRow>,
    holds: &[Hold],
    now_ms: i64,
) -> Vec<Candidate> {
    rows.into_iter()
        .filter_map(|row| {
            let max_age = max_age(cfg, &row)?;
            let at = row.end_ms.unwrap_or(row.start_ms).max(row.start_ms);
            let age_ms = i64::try_from(max_age.0.as_millis()).unwrap_or(i64::MAX);
            if now_ms.saturating_sub(at) < age_ms {
                return None;
            }
            let hold = holds
                .iter()
                .find(|h| h.host == row.host && h.rec == row.rec)
                .cloned();
            Some(Candidate { row, max_age, hold })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const DAY: i64 = 86_400_000;

    fn cfg() -> Config {
        Config::parse(
            r#"
[hostgroups]
web = ["w1"]
db = ["d1"]
[retention]
default_max_age = "400d"
[[retention.rule]]
hostgroup = "web"
max_age = "30d"
[[retention.rule]]
usergroup = "dba"
max_age = "90d"
"#,
            Path::new("central.toml"),
        )
        .unwrap()
    }

    fn row(host: &str, groups: &[&str], end_days_ago: i64) -> RetentionRow {
        let now = 1000 * DAY;
        RetentionRow {
            key: 1,
            host: host.into(),
            rec: format!("{host}-{end_days_ago}"),
            user: "u".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            start_ms: now - end_days_ago * DAY - 1000,
            end_ms: Some(now - end_days_ago * DAY),
        }
    }

    #[test]
    fn longest_matching_rule_wins_then_default() {
        let c = cfg();
        let d = |days: u64| Some(MaxAge(std::time::Duration::from_secs(days * 86_400)));
        assert_eq!(max_age(&c, &row("w1", &[], 0)), d(30));
        // Web host and dba: both rules match, the longer (90d) applies.
        assert_eq!(max_age(&c, &row("w1", &["dba"], 0)), d(90));
        assert_eq!(max_age(&c, &row("d1", &[], 0)), d(400));
        let mut none = c.clone();
        none.retention.default_max_age = None;
        assert_eq!(max_age(&none, &row("d1", &[], 0)), None);
    }

    #[test]
    fn selects_expired_by_end_time_and_flags_holds() {
        let c = cfg();
        let rows = vec![
            row("w1", &[], 31),
            row("w1", &[], 29),
            row("w1", &["dba"], 31),
            row("d1", &[], 401),
            row("d1", &[], 399),
        ];
        let hold = Hold {
            host: "d1".into(),
            rec: "d1-401".into(),
            reason: Some("case 7".into()),
            who: "root".into(),
            t_ms: 0,
        };
        let got = select(&c, rows, std::slice::from_ref(&hold), 1000 * DAY);
        let recs: Vec<&str> = got.iter().map(|c| c.row.rec.as_str()).collect();
        assert_eq!(recs, ["w1-31", "d1-401"]);
        assert_eq!(got[0].hold, None);
        assert_eq!(got[1].hold, Some(hold));
    }

    #[test]
    fn archive_unless_every_matching_rule_opts_out() {
        let mut c = cfg();
        c.retention.rules[0].archive = false; // web
        assert!(!archives(&c, &row("w1", &[], 0)));
        assert!(archives(&c, &row("w1", &["dba"], 0)), "dba still archives");
        assert!(archives(&c, &row("d1", &[], 0)), "no rule: archived");
        c.retention.rules[1].archive = false;
        assert!(!archives(&c, &row("w1", &["dba"], 0)));
    }

    #[test]
    fn unfinished_recording_ages_from_its_start() {
        let c = cfg();
        let mut r = row("w1", &[], 31);
        r.end_ms = None;
        assert_eq!(select(&c, vec![r], &[], 1000 * DAY).len(), 1);
    }
}
