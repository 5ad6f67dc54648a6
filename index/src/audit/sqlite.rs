//! The audit tables of the SQLite backend. Created with the rest of the
//! schema (`IF NOT EXISTS`: an older index gains them on open).

use rusqlite::{params, params_from_iter, OptionalExtension, ToSql};

use super::store::{AuditStore, Correlation, EventFilter, ExecHit, RecFacts, Trail};
use super::{AuditEvent, Kind};
use crate::store::sqlite::Sqlite;
use crate::store::{Added, Result, StoreError};

/// `exe` is kept apart only for successful execs (`search --exec`); the
/// event itself is `body` (JSON of [`AuditEvent`]).
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS audit_events(key INTEGER PRIMARY KEY, host TEXT NOT NULL,
  eid TEXT NOT NULL, t_ms INTEGER NOT NULL, kind TEXT NOT NULL, ses INTEGER, exe TEXT,
  nrec INTEGER NOT NULL, body TEXT NOT NULL, UNIQUE(host, eid));
CREATE INDEX IF NOT EXISTS audit_events_ses ON audit_events(host, ses, t_ms) WHERE ses IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events(host, t_ms);
CREATE INDEX IF NOT EXISTS audit_events_exe ON audit_events(exe) WHERE exe IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit_links(rec_key INTEGER NOT NULL, ev_key INTEGER NOT NULL,
  role TEXT NOT NULL, PRIMARY KEY(rec_key, ev_key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_links_ev ON audit_links(ev_key);
CREATE TABLE IF NOT EXISTS audit_corr(rec_key INTEGER PRIMARY KEY, how TEXT NOT NULL,
  auth_failures INTEGER NOT NULL);
"#;

fn parse_body(s: &str) -> Result<AuditEvent> {
    serde_json::from_str(s).map_err(|e| StoreError(format!("stored audit event: {e}")))
}

fn facts_row(r: &rusqlite::Row) -> rusqlite::Result<RecFacts> {
    Ok(RecFacts {
        key: r.get(0)?,
        host: r.get(1)?,
        rec: r.get(2)?,
        user: r.get(3)?,
        uid: r.get::<_, Option<i64>>(4)?.map(|u| u as u32),
        session: r
            .get::<_, Option<i64>>(5)?
            .and_then(|s| u32::try_from(s).ok()),
        start_ms: r.get(6)?,
        end_ms: r.get(7)?,
        has_end: r.get(8)?,
    })
}

impl Sqlite {
    /// `columns` of the events matching `f`, in time order.
    fn event_rows<T>(
        &mut self,
        f: &EventFilter,
        columns: &str,
        row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut sql = format!(
            "SELECT {columns} FROM audit_events WHERE host=?1 AND t_ms >= ?2 AND t_ms <= ?3"
        );
        let mut args: Vec<Box<dyn ToSql>> = vec![
            Box::new(f.host.to_string()),
            Box::new(f.from_ms),
            Box::new(f.to_ms),
        ];
        if let Some(s) = f.ses {
            sql.push_str(" AND ses = ?4");
            args.push(Box::new(s));
        }
        if !f.kinds.is_empty() {
            let list: Vec<String> = f
                .kinds
                .iter()
                .map(|k| format!("'{}'", k.as_str()))
                .collect();
            sql.push_str(&format!(" AND kind IN ({})", list.join(",")));
        }
        sql.push_str(" ORDER BY t_ms, key");
        let mut st = self.conn().prepare_cached(&sql)?;
        let rows = st
            .query_map(params_from_iter(args.iter()), row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

const FACTS: &str =
    "SELECT key, host, rec, user, uid, session, start_ms, end_ms, has_end FROM recordings";

impl AuditStore for Sqlite {
    fn add_audit_event_as(&mut self, e: &AuditEvent, body: &str) -> Result<Added> {
        let exe = (e.kind == Kind::Exec && e.success != Some(false))
            .then_some(e.exe.as_deref())
            .flatten();
        let n = self
            .conn()
            .prepare_cached(
                "INSERT INTO audit_events(host, eid, t_ms, kind, ses, exe, nrec, body)
                 VALUES(?1,?2,?3,?4,?5,?6,?7,?8)
                 ON CONFLICT(host, eid) DO UPDATE SET t_ms=excluded.t_ms, kind=excluded.kind,
                   ses=excluded.ses, exe=excluded.exe, nrec=excluded.nrec, body=excluded.body
                 WHERE excluded.nrec > audit_events.nrec",
            )?
            .execute(params![
                e.host,
                e.id,
                e.t_ms,
                e.kind.as_str(),
                e.ses,
                exe,
                e.records,
                body
            ])?;
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
        let mut st = self.conn().prepare_cached(
            "SELECT key FROM recordings WHERE host=?1 AND start_ms IS NOT NULL
               AND start_ms - ?4 <= ?3
               AND (has_end = 0 OR COALESCE(end_ms, start_ms) + ?5 >= ?2)",
        )?;
        let v = st
            .query_map(params![host, from_ms, to_ms, before_ms, after_ms], |r| {
                r.get(0)
            })?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(v)
    }

    fn rec_facts(&mut self, rec: i64) -> Result<Option<RecFacts>> {
        Ok(self
            .conn()
            .prepare_cached(&format!("{FACTS} WHERE key=?1"))?
            .query_row([rec], facts_row)
            .optional()?)
    }

    fn find_recs(&mut self, rec: &str) -> Result<Vec<RecFacts>> {
        let mut st = self
            .conn()
            .prepare_cached(&format!("{FACTS} WHERE rec=?1 ORDER BY host"))?;
        let v = st
            .query_map([rec], facts_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn audit_events(&mut self, f: &EventFilter) -> Result<Vec<(i64, AuditEvent)>> {
        let rows = self.event_rows(f, "key, body", |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.into_iter()
            .map(|(k, b)| Ok((k, parse_body(&b)?)))
            .collect()
    }

    fn audit_event_keys(&mut self, f: &EventFilter) -> Result<Vec<i64>> {
        self.event_rows(f, "key", |r| r.get(0))
    }

    fn set_correlation(&mut self, rec: i64, c: &Correlation) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM audit_links WHERE rec_key=?1", [rec])?;
        {
            let mut st = conn.prepare_cached(
                "INSERT OR REPLACE INTO audit_links(rec_key, ev_key, role) VALUES(?1,?2,?3)",
            )?;
            for (ev, role) in &c.links {
                st.execute(params![rec, ev, role.as_str()])?;
            }
        }
        conn.execute(
            "INSERT OR REPLACE INTO audit_corr(rec_key, how, auth_failures) VALUES(?1,?2,?3)",
            params![rec, c.join.as_str(), c.auth_failures],
        )?;
        Ok(())
    }

    fn trail(&mut self, rec: i64) -> Result<Option<Trail>> {
        let conn = self.conn();
        let head: Option<(String, u32)> = conn
            .query_row(
                "SELECT how, auth_failures FROM audit_corr WHERE rec_key=?1",
                [rec],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((how, auth_failures)) = head else {
            return Ok(None);
        };
        let mut st = conn.prepare_cached(
            "SELECT l.role, e.body FROM audit_links l JOIN audit_events e ON e.key = l.ev_key
             WHERE l.rec_key=?1 ORDER BY e.t_ms, e.key",
        )?;
        let rows = st
            .query_map([rec], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let events = rows
            .into_iter()
            .map(|(role, b)| Ok((role.parse().map_err(StoreError)?, parse_body(&b)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Trail {
            join: how.parse().map_err(StoreError)?,
            auth_failures,
            events,
        }))
    }

    fn input_lines(&mut self, rec: i64) -> Result<Vec<(i64, String)>> {
        let mut st = self.conn().prepare_cached(
            "SELECT t_ms, text FROM commands WHERE rec_key=?1 ORDER BY t_ms, rowid",
        )?;
        let v = st
            .query_map([rec], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn execs(&mut self, exe: &str) -> Result<Vec<ExecHit>> {
        let mut st = self.conn().prepare_cached(
            "SELECT r.host, r.rec, r.start_ms, e.body FROM audit_events e
             JOIN audit_links l ON l.ev_key = e.key AND l.role = 'session'
             JOIN recordings r ON r.key = l.rec_key
             WHERE e.exe = ?1 ORDER BY r.start_ms, r.key, e.t_ms, e.key",
        )?;
        let rows = st
            .query_map([exe], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(host, rec, start, b)| {
                let event = parse_body(&b)?;
                Ok(ExecHit {
                    host,
                    rec,
                    offset_ms: event.t_ms - start.unwrap_or(event.t_ms),
                    event,
                })
            })
            .collect()
    }

    fn with_auth_failures(&mut self) -> Result<Vec<(String, String)>> {
        let mut st = self.conn().prepare_cached(
            "SELECT r.host, r.rec FROM audit_corr c JOIN recordings r ON r.key = c.rec_key
             WHERE c.auth_failures > 0 ORDER BY r.start_ms",
        )?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn audit_counts(&mut self) -> Result<[u64; 2]> {
        let c = self.conn();
        let n: i64 = c.query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0))?;
        let l: i64 = c.query_row("SELECT count(DISTINCT ev_key) FROM audit_links", [], |r| {
            r.get(0)
        })?;
        Ok([n as u64, l as u64])
    }
}
