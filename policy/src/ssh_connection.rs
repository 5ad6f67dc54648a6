//! The TCP connection of an ssh login: sshd puts
//! `SSH_CONNECTION=<client addr> <client port> <server addr> <server port>`
//! into the PAM environment when it starts PAM, before any module runs.
//! pam_tlog hands it to the recorder, so that the central index can link the
//! two hops of a jump-server login (docs/jump-server.md) and an auditor can
//! match sshd's own log line (`Accepted … from ADDR port N`).
//!
//! A module that runs earlier in the stack (`pam_env user_readenv=1`) can
//! replace the value with the user's own. The client address must therefore
//! equal `PAM_RHOST` (an item that no environment file can change) when that
//! is an address; a value that fails the check is dropped, never recorded.
//! The ports remain a linking aid, not evidence.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What sshd states about the login's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshConnection {
    pub client_addr: IpAddr,
    pub client_port: u16,
    /// The address and port the client connected to (this host's side).
    pub server_addr: IpAddr,
    pub server_port: u16,
}

/// Why an `SSH_CONNECTION` value is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshConnectionError {
    /// Not four fields of address, port, address, port.
    Malformed(String),
    /// The client address is not PAM_RHOST's: set by someone else than sshd.
    NotRhost { client: IpAddr, rhost: String },
}

impl fmt::Display for SshConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshConnectionError::Malformed(v) => {
                write!(f, "SSH_CONNECTION {v:?} is not \"ADDR PORT ADDR PORT\"")
            }
            SshConnectionError::NotRhost { client, rhost } => write!(
                f,
                "SSH_CONNECTION names client {client}, but PAM_RHOST is {rhost:?}: not sshd's value"
            ),
        }
    }
}

impl std::error::Error for SshConnectionError {}

impl FromStr for SshConnection {
    type Err = SshConnectionError;

    fn from_str(s: &str) -> Result<SshConnection, SshConnectionError> {
        let bad = || SshConnectionError::Malformed(s.chars().take(120).collect());
        let f: Vec<&str> = s.split(' ').collect();
        let [ca, cp, sa, sp] = f[..] else {
            return Err(bad());
        };
        let addr = |a: &str| {
            a.parse::<IpAddr>()
                .map(|a| a.to_canonical())
                .map_err(|_| bad())
        };
        let port = |p: &str| p.parse::<u16>().map_err(|_| bad());
        Ok(SshConnection {
            client_addr: addr(ca)?,
            client_port: port(cp)?,
            server_addr: addr(sa)?,
            server_port: port(sp)?,
        })
    }
}

impl SshConnection {
    /// The connection of this login, from the PAM environment's value and
    /// PAM_RHOST: `Ok(None)` when there is none (not sshd), an error when the
    /// value is malformed or does not match PAM_RHOST. A non-address RHOST
    /// (sshd's `UseDNS yes`) cannot be compared and is accepted.
    pub fn from_pam(
        value: Option<&str>,
        rhost: &str,
    ) -> Result<Option<SshConnection>, SshConnectionError> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let c: SshConnection = value.parse()?;
        if let Ok(r) = rhost.parse::<IpAddr>() {
            if r.to_canonical() != c.client_addr {
                return Err(SshConnectionError::NotRhost {
                    client: c.client_addr,
                    rhost: rhost.to_string(),
                });
            }
        }
        Ok(Some(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sshds_value_is_read_field_by_field() {
        let c: SshConnection = "192.0.2.7 51234 198.51.100.1 22".parse().unwrap();
        assert_eq!(c.client_addr, "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!((c.client_port, c.server_port), (51234, 22));
        assert_eq!(c.server_addr, "198.51.100.1".parse::<IpAddr>().unwrap());
        // IPv6, and IPv4 mapped into IPv6 as sshd prints it on a v6 socket.
        let c: SshConnection = "2001:db8::7 40000 ::ffff:10.0.0.1 2222".parse().unwrap();
        assert_eq!(c.client_addr, "2001:db8::7".parse::<IpAddr>().unwrap());
        assert_eq!(c.server_addr, "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn anything_else_is_malformed() {
        for v in [
            "192.0.2.7 51234 198.51.100.1",
            "192.0.2.7 51234 198.51.100.1 22 extra",
            "192.0.2.7 70000 198.51.100.1 22",
            "host 51234 198.51.100.1 22",
            "192.0.2.7  51234 198.51.100.1 22",
            "192.0.2.7 -1 198.51.100.1 22",
        ] {
            let e = v.parse::<SshConnection>().unwrap_err();
            assert!(matches!(e, SshConnectionError::Malformed(_)), "{v}: {e}");
            assert!(e.to_string().contains("ADDR PORT ADDR PORT"), "{e}");
        }
    }

    #[test]
    fn the_client_must_be_pam_rhost() {
        let v = Some("192.0.2.7 51234 198.51.100.1 22");
        assert!(SshConnection::from_pam(v, "192.0.2.7").unwrap().is_some());
        assert!(SshConnection::from_pam(v, "::ffff:192.0.2.7")
            .unwrap()
            .is_some());
        // A name (UseDNS yes) cannot be compared.
        assert!(SshConnection::from_pam(v, "ws1.example.com")
            .unwrap()
            .is_some());
        // The user's ~/.pam_environment claiming another client.
        let e = SshConnection::from_pam(v, "203.0.113.9").unwrap_err();
        assert!(matches!(e, SshConnectionError::NotRhost { .. }), "{e}");
        assert!(e.to_string().contains("203.0.113.9"), "{e}");
        // Not sshd: nothing.
        assert_eq!(SshConnection::from_pam(None, "").unwrap(), None);
        assert_eq!(SshConnection::from_pam(Some(""), "x").unwrap(), None);
    }
}
