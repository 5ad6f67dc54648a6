//! The audit tables of the PostgreSQL backend, the same as SQLite's
//! (`audit::sqlite`). Created on open with `IF NOT EXISTS` under the
//! schema lock, so an index made before them gains them.

use super::store::{AuditStore, Correlation, EventFilter, ExecHit, RecFacts, Trail};
use super::{AuditEvent, Kind};
use crate::store::postgres::{t, Postgres};
use crate::store::{Added, Result, StoreError};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS audit_events(key BIGSERIAL PRIMARY KEY, host TEXT NOT NULL,
  eid TEXT NOT NULL, t_ms BIGINT NOT NULL, kind TEXT NOT NULL, ses BIGINT, exe TEXT,
  nrec BIGINT NOT NULL, body TEXT NOT NULL, UNIQUE(host, eid));
CREATE INDEX IF NOT EXISTS audit_events_ses ON audit_events(host, ses, t_ms) WHERE ses IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events(host, t_ms);
CREATE INDEX IF NOT EXISTS audit_events_exe ON audit_events(exe) WHERE exe IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit_links(rec_key BIGINT NOT NULL, ev_key BIGINT NOT NULL,
  role TEXT NOT NULL, PRIMARY KEY(rec_key, ev_key));
CREATE INDEX IF NOT EXISTS audit_links_ev ON audit_links(ev_key);
CREATE TABLE IF NOT EXISTS audit_corr(rec_key BIGINT PRIMARY KEY, how TEXT NOT NULL,
  auth_failures BIGINT NOT NULL);
"#;

fn parse_body(s: &str) -> Result<AuditEvent> {
    serde_json::from_str(s).map_err(|e| StoreError(format!("stored audit event: {e}")))
}

fn facts_row(r: &postgres::Row) -> RecFacts {
    RecFacts {
        key: r.get(0),
        host: r.get(1),
        rec: r.get(2),
        user: r.get(3),
        uid: r
            .get::<_, Option<i64>>(4)
            .and_then(|u| u32::try_from(u).ok()),
        session: r
            .get::<_, Option<i64>>(5)
            .and_then(|s| u32::try_from(s).ok()),
        start_ms: r.get(6),
        end_ms: r.get(7),
        has_end: r.get(8),
    }
}

impl AuditStore for Postgres {
    fn add_audit_event_as(&mut self, e: &AuditEvent, body: &str) -> Result<Added> {
        let exe = (e.kind == Kind::Exec && e.success != Some(false))
            .then_some(e.exe.as_deref())
            .flatten()
            .map(|x| t(x).into_owned());
        let n = self.exec(
            "INSERT INTO audit_events(host, eid, t_ms, kind, ses, exe, nrec, body)
             VALUES($1,$2,$3,$4,$5,$6,$7,$8)
             ON CONFLICT(host, eid) DO UPDATE SET t_ms=excluded.t_ms, kind=excluded.kind,
               ses=excluded.ses, exe=excluded.exe, nrec=excluded.nrec, body=excluded.body
             WHERE excluded.nrec > audit_events.nrec",
            &[
                &t(&e.host).as_ref(),
                &t(&e.id).as_ref(),
                &e.t_ms,
                &e.kind.as_str(),
                &e.ses.map(i64::from),
                &exe,
                &i64::from(e.records),
                &t(body).as_ref(),
            ],
        )?;
        Ok(if n > 0 { Added::New } else { Added::Duplicate })
    }

    fn recordings_near(
        &mut self,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        before_ms: i64,
        after_ms: i64,
    ) -> Result<Vec<i64>> {
        Ok(self
            .rows(
                "SELECT key FROM recordings WHERE host=$1 AND start_ms IS NOT NULL
                   AND start_ms - $4 <= $3
                   AND (NOT has_end OR COALESCE(end_ms, start_ms) + $5 >= $2)",
                &[&t(host).as_ref(), &from_ms, &to_ms, &before_ms, &after_ms],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn rec_facts(&mut self, rec: i64) -> Result<Option<RecFacts>> {
        Ok(self
            .row(
                "SELECT key, host, rec, user_name, uid, session, start_ms, end_ms, has_end
                 FROM recordings WHERE key=$1",
                &[&rec],
            )?
            .as_ref()
            .map(facts_row))
    }

    fn find_recs(&mut self, rec: &str) -> Result<Vec<RecFacts>> {
        Ok(self
            .rows(
                "SELECT key, host, rec, user_name, uid, session, start_ms, end_ms, has_end
                 FROM recordings WHERE rec=$1 ORDER BY host",
                &[&t(rec).as_ref()],
            )?
            .iter()
            .map(facts_row)
            .collect())
    }

    fn audit_event_keys(&mut self, f: &EventFilter) -> Result<Vec<i64>> {
        let kinds: Vec<&str> = f.kinds.iter().map(|k| k.as_str()).collect();
        let rows = self.rows(
            "SELECT key FROM audit_events WHERE host=$1 AND t_ms >= $2 AND t_ms <= $3
               AND ($4::BIGINT IS NULL OR ses = $4)
               AND (cardinality($5::TEXT[]) = 0 OR kind = ANY($5))
             ORDER BY t_ms, key",
            &[
                &t(f.host).as_ref(),
                &f.from_ms,
                &f.to_ms,
                &f.ses.map(i64::from),
                &kinds,
            ],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn audit_events(&mut self, f: &EventFilter) -> Result<Vec<(i64, AuditEvent)>> {
        let kinds: Vec<&str> = f.kinds.iter().map(|k| k.as_str()).collect();
        let rows = self.rows(
            "SELECT key, body FROM audit_events WHERE host=$1 AND t_ms >= $2 AND t_ms <= $3
               AND ($4::BIGINT IS NULL OR ses = $4)
               AND (cardinality($5::TEXT[]) = 0 OR kind = ANY($5))
             ORDER BY t_ms, key",
            &[
                &t(f.host).as_ref(),
                &f.from_ms,
                &f.to_ms,
                &f.ses.map(i64::from),
                &kinds,
            ],
        )?;
        rows.iter()
            .map(|r| Ok((r.get(0), parse_body(r.get(1))?)))
            .collect()
    }

    fn set_correlation(&mut self, rec: i64, c: &Correlation) -> Result<()> {
        self.exec("DELETE FROM audit_links WHERE rec_key=$1", &[&rec])?;
        for (ev, role) in &c.links {
            self.exec(
                "INSERT INTO audit_links(rec_key, ev_key, role) VALUES($1,$2,$3)
                 ON CONFLICT(rec_key, ev_key) DO UPDATE SET role=excluded.role",
                &[&rec, ev, &role.as_str()],
            )?;
        }
        self.exec(
            "INSERT INTO audit_corr(rec_key, how, auth_failures) VALUES($1,$2,$3)
             ON CONFLICT(rec_key) DO UPDATE SET how=excluded.how,
               auth_failures=excluded.auth_failures",
            &[&rec, &c.join.as_str(), &i64::from(c.auth_failures)],
        )?;
        Ok(())
    }

    fn trail(&mut self, rec: i64) -> Result<Option<Trail>> {
        let Some(head) = self.row(
            "SELECT how, auth_failures FROM audit_corr WHERE rec_key=$1",
            &[&rec],
        )?
        else {
            return Ok(None);
        };
        let how: String = head.get(0);
        let auth_failures = u32::try_from(head.get::<_, i64>(1)).unwrap_or(u32::MAX);
        let events = self
            .rows(
                "SELECT l.role, e.body FROM audit_links l JOIN audit_events e ON e.key = l.ev_key
                 WHERE l.rec_key=$1 ORDER BY e.t_ms, e.key",
                &[&rec],
            )?
            .iter()
            .map(|r| {
                let role: String = r.get(0);
                Ok((role.parse().map_err(StoreError)?, parse_body(r.get(1))?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Trail {
            join: how.parse().map_err(StoreError)?,
            auth_failures,
            events,
        }))
    }

    fn input_lines(&mut self, rec: i64) -> Result<Vec<(i64, String)>> {
        crate::store::Store::commands(self, rec)
    }

    fn execs(&mut self, exe: &str) -> Result<Vec<ExecHit>> {
        let rows = self.rows(
            "SELECT r.host, r.rec, r.start_ms, e.body FROM audit_events e
             JOIN audit_links l ON l.ev_key = e.key AND l.role = 'session'
             JOIN recordings r ON r.key = l.rec_key
             WHERE e.exe = $1 ORDER BY r.start_ms, r.key, e.t_ms, e.key",
            &[&t(exe).as_ref()],
        )?;
        rows.iter()
            .map(|r| {
                let event = parse_body(r.get(3))?;
                let start: Option<i64> = r.get(2);
                Ok(ExecHit {
                    host: r.get(0),
                    rec: r.get(1),
                    offset_ms: event.t_ms - start.unwrap_or(event.t_ms),
                    event,
                })
            })
            .collect()
    }

    fn with_auth_failures(&mut self) -> Result<Vec<(String, String)>> {
        Ok(self
            .rows(
                "SELECT r.host, r.rec FROM audit_corr c JOIN recordings r ON r.key = c.rec_key
                 WHERE c.auth_failures > 0 ORDER BY r.start_ms",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn audit_counts(&mut self) -> Result<[u64; 2]> {
        let n: i64 = self
            .row("SELECT count(*) FROM audit_events", &[])?
            .map_or(0, |r| r.get(0));
        let l: i64 = self
            .row("SELECT count(DISTINCT ev_key) FROM audit_links", &[])?
            .map_or(0, |r| r.get(0));
        Ok([n as u64, l as u64])
    }
}
