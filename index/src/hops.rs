//! Jump-server hops: a login made from inside a recorded session on another
//! host (the bastion) is linked to that session. The target's recording
//! names where its login came from (`rhost`) and sshd's view of the TCP
//! connection (`rport`, `laddr`, `lport`: docs/jump-server.md); the bastion's
//! recording names the address its users reached it on (`laddr`). Two
//! recordings are linked when they belong to the same user, the target's
//! login started while the bastion session ran, and the target's `rhost` is
//! the bastion's `laddr` (linked by address) or its host name or FQDN
//! (linked by name, for sshd's `UseDNS yes`).

use std::fmt;
use std::str::FromStr;

/// Which way a linked recording lies from the one asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The session this login was made from.
    From,
    /// A login made from inside this session.
    To,
}

/// What the link rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkedBy {
    Address,
    Name,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::From => "from",
            Direction::To => "to",
        })
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Direction, String> {
        match s {
            "from" => Ok(Direction::From),
            "to" => Ok(Direction::To),
            _ => Err(format!("unknown hop direction {s:?}")),
        }
    }
}

impl fmt::Display for LinkedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkedBy::Address => "address",
            LinkedBy::Name => "name",
        })
    }
}

impl FromStr for LinkedBy {
    type Err = String;
    fn from_str(s: &str) -> Result<LinkedBy, String> {
        match s {
            "address" => Ok(LinkedBy::Address),
            "name" => Ok(LinkedBy::Name),
            _ => Err(format!("unknown link kind {s:?}")),
        }
    }
}

/// A recording linked to the one asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub direction: Direction,
    pub by: LinkedBy,
    pub host: String,
    pub rec: String,
    pub user: Option<String>,
    pub start_ms: Option<i64>,
    /// Of the login that was made from the bastion (the `To` side's own
    /// values for `To`, the asked recording's for `From`): the client port
    /// sshd saw, and the address and port it was reached on.
    pub rhost: Option<String>,
    pub rport: Option<i64>,
    pub laddr: Option<String>,
    pub lport: Option<i64>,
}

/// The query, written once for both backends: `{user}` is the user column,
/// `{key}` the parameter holding the recording's key. Start and end come
/// from the start/end entries where there are any, else from the messages.
pub(crate) fn sql(user: &str, key: &str) -> String {
    let pair = |dir: &str, this: &str, other: &str, from: &str, to: &str| {
        format!(
            "SELECT '{dir}', CASE WHEN {to}.rhost = {from}.laddr THEN 'address' ELSE 'name' END,
               {other}.host, {other}.rec, {other}.{user}, COALESCE({other}.ev_start_ms, {other}.start_ms),
               {to}.rhost, {to}.rport, {to}.laddr, {to}.lport
             FROM recordings {this} JOIN recordings {other}
               ON {other}.{user} = {this}.{user} AND {other}.key <> {this}.key
             WHERE {this}.key = {key}
               AND COALESCE({from}.ev_start_ms, {from}.start_ms) <= COALESCE({to}.ev_start_ms, {to}.start_ms)
               AND COALESCE({to}.ev_start_ms, {to}.start_ms)
                   <= COALESCE({from}.ev_end_ms, {from}.end_ms, COALESCE({to}.ev_start_ms, {to}.start_ms))
               AND {to}.rhost <> ''
               AND ({to}.rhost = {from}.laddr OR {to}.rhost = {from}.host OR {to}.rhost = {from}.fqdn)"
        )
    };
    format!(
        "{} UNION ALL {} ORDER BY 6, 3, 4",
        pair("from", "t", "b", "b", "t"),
        pair("to", "b", "t", "b", "t")
    )
}

/// A row of [`sql`], as strings and numbers.
pub(crate) type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

pub(crate) fn from_row(r: Row) -> Result<Hop, String> {
    Ok(Hop {
        direction: r.0.parse()?,
        by: r.1.parse()?,
        host: r.2,
        rec: r.3,
        user: r.4,
        start_ms: r.5,
        rhost: r.6,
        rport: r.7,
        laddr: r.8,
        lport: r.9,
    })
}
