//! Rules in words: the `list` table and `show`.

use std::collections::HashMap;

use super::exec::ATTRS_SETTINGS;
use crate::resolve::{Entry, Layout};
use tlog_rs_policy::freeipa::{quote_values, TimeLimitHandling};
use tlog_rs_policy::Action;

/// A rule in words.
pub(super) struct View {
    name: String,
    enabled: &'static str,
    priority: String,
    mode: String,
    audit: String,
    users: String,
    hosts: String,
    services: String,
    hbac: Option<String>,
    /// accessTime of the rule, then of its seeAlso HBAC rule (not evaluated).
    access_time: Vec<String>,
    time_handling: TimeLimitHandling,
    settings: Vec<(String, String)>,
    description: Option<String>,
    dn: String,
}

impl View {
    pub(super) fn new(e: &Entry, layout: &Layout, hbac: &HashMap<String, Entry>) -> View {
        let short = |dns: &[String]| -> Vec<String> {
            dns.iter()
                .map(|d| {
                    let n = crate::dn::normalize(d);
                    let parent = crate::dn::parent(&n);
                    let value = crate::dn::first_rdn(d)
                        .map(|(_, v)| v)
                        .unwrap_or_else(|| d.clone());
                    if parent == layout.groups
                        || parent == layout.hostgroups
                        || parent == layout.servicegroups
                    {
                        format!("@{value}")
                    } else {
                        value
                    }
                })
                .collect()
        };
        let dim = |cat: &str, member: &str| -> String {
            if e.one(cat).is_some_and(|c| c.eq_ignore_ascii_case("all")) {
                "all".into()
            } else {
                let v = short(e.get(member));
                if v.is_empty() {
                    "-".into()
                } else {
                    v.join(",")
                }
            }
        };
        let settings = ATTRS_SETTINGS[3..]
            .iter()
            .filter_map(|a| {
                e.one(&a.to_lowercase()).map(|v| {
                    (
                        a.trim_start_matches("ipaSessionRecording").to_string(),
                        v.to_string(),
                    )
                })
            })
            .collect();
        let target = e.one("seealso").map(|d| hbac.get(&crate::dn::normalize(d)));
        let mut access_time = e.get("accesstime").to_vec();
        if let Some(Some(h)) = target {
            access_time.extend(h.get("accesstime").iter().cloned());
        }
        let mode = e
            .one("ipasessionrecordingmode")
            .unwrap_or(Action::Record.as_str())
            .to_lowercase();
        View {
            name: e.one("cn").unwrap_or("?").to_string(),
            enabled: if e
                .one("ipaenabledflag")
                .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"))
            {
                "yes"
            } else {
                "no"
            },
            priority: e
                .one("ipasessionrecordingpriority")
                .unwrap_or("-")
                .to_string(),
            // Anything but exempt records (an invalid mode is ignored by the sync).
            time_handling: TimeLimitHandling::for_mode(if mode == Action::Exempt.as_str() {
                Action::Exempt
            } else {
                Action::Record
            }),
            access_time,
            mode,
            audit: e
                .one("ipasessionrecordingauditlevel")
                .unwrap_or("-")
                .to_lowercase(),
            users: dim("usercategory", "memberuser"),
            hosts: dim("hostcategory", "memberhost"),
            services: dim("servicecategory", "memberservice"),
            hbac: e.one("seealso").map(|d| match target {
                Some(Some(h)) => h.one("cn").unwrap_or("?").to_string(),
                _ => format!("{d} (missing)"),
            }),
            settings,
            description: e.one("description").map(str::to_string),
            dn: e.dn.clone(),
        }
    }

    /// The `list` table's header and rows.
    pub(super) fn header() -> String {
        format!(
            "{:<28} {:<8} {:>8} {:<7} {:<8} {}",
            "NAME", "ENABLED", "PRIORITY", "MODE", "AUDIT", "SELECTS"
        )
    }

    pub(super) fn row(&self) -> String {
        format!(
            "{:<28} {:<8} {:>8} {:<7} {:<8} {}",
            self.name,
            self.enabled,
            self.priority,
            self.mode,
            self.audit,
            self.selects()
        )
    }

    fn selects(&self) -> String {
        let mut s = match &self.hbac {
            Some(h) => format!("via HBAC rule {h}"),
            None => format!(
                "users={} hosts={} services={}",
                self.users, self.hosts, self.services
            ),
        };
        if !self.access_time.is_empty() {
            s.push_str(&format!(
                " accessTime={} ({})",
                quote_values(&self.access_time),
                self.time_handling.as_str()
            ));
        }
        s
    }

    pub(super) fn full(&self) -> String {
        let mut lines = vec![
            format!("rule:        {}", self.name),
            format!("dn:          {}", self.dn),
            format!("enabled:     {}", self.enabled),
            format!("priority:    {}", self.priority),
            format!("mode:        {}", self.mode),
            format!("audit level: {}", self.audit),
        ];
        lines.push(match &self.hbac {
            Some(h) => format!("HBAC rule:   {h} (its users, hosts and services)"),
            None => format!("users:       {}", self.users),
        });
        if self.hbac.is_none() {
            lines.push(format!("hosts:       {}", self.hosts));
            lines.push(format!("services:    {}", self.services));
        }
        if !self.access_time.is_empty() {
            let limit = quote_values(&self.access_time);
            lines.push(format!("time limit:  {limit}: {}", self.time_handling));
        }
        for (k, v) in &self.settings {
            lines.push(format!("{:<13}{v}", format!("{k}:")));
        }
        if let Some(d) = &self.description {
            lines.push(format!("description: {d}"));
        }
        lines.join("\n").trim_end().to_string()
    }
}
