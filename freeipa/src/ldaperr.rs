//! LDAP result codes as a type (callers match on the code, never on text),
//! and in words (server errors passed on readably).

use std::fmt;

/// The LDAP result codes (RFC 4511, 4.1.9) this crate names; any other is
/// kept as `Other` with its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    OperationsError,
    ProtocolError,
    TimeLimitExceeded,
    SizeLimitExceeded,
    AuthMethodNotSupported,
    StrongerAuthRequired,
    AdminLimitExceeded,
    ConfidentialityRequired,
    NoSuchAttribute,
    UndefinedAttributeType,
    ConstraintViolation,
    AttributeOrValueExists,
    InvalidAttributeSyntax,
    NoSuchObject,
    InvalidDnSyntax,
    InappropriateAuthentication,
    InvalidCredentials,
    InsufficientAccessRights,
    Busy,
    Unavailable,
    UnwillingToPerform,
    NamingViolation,
    ObjectClassViolation,
    NotAllowedOnNonLeaf,
    EntryAlreadyExists,
    OtherServerError,
    Other(u32),
}

/// Number, code and words, in one table so they cannot drift apart.
const CODES: [(u32, ResultCode, &str); 26] = [
    (1, ResultCode::OperationsError, "operations error"),
    (2, ResultCode::ProtocolError, "protocol error"),
    (3, ResultCode::TimeLimitExceeded, "time limit exceeded"),
    (4, ResultCode::SizeLimitExceeded, "size limit exceeded"),
    (
        7,
        ResultCode::AuthMethodNotSupported,
        "authentication method not supported",
    ),
    (
        8,
        ResultCode::StrongerAuthRequired,
        "stronger authentication required",
    ),
    (
        11,
        ResultCode::AdminLimitExceeded,
        "administrative limit exceeded",
    ),
    (
        13,
        ResultCode::ConfidentialityRequired,
        "confidentiality required",
    ),
    (16, ResultCode::NoSuchAttribute, "no such attribute"),
    (
        17,
        ResultCode::UndefinedAttributeType,
        "undefined attribute type (is the session-recording schema loaded?)",
    ),
    (19, ResultCode::ConstraintViolation, "constraint violation"),
    (
        20,
        ResultCode::AttributeOrValueExists,
        "attribute or value exists",
    ),
    (
        21,
        ResultCode::InvalidAttributeSyntax,
        "invalid attribute syntax",
    ),
    (32, ResultCode::NoSuchObject, "no such object"),
    (34, ResultCode::InvalidDnSyntax, "invalid DN syntax"),
    (
        48,
        ResultCode::InappropriateAuthentication,
        "inappropriate authentication",
    ),
    (49, ResultCode::InvalidCredentials, "invalid credentials"),
    (
        50,
        ResultCode::InsufficientAccessRights,
        "insufficient access rights",
    ),
    (51, ResultCode::Busy, "server busy"),
    (52, ResultCode::Unavailable, "server unavailable"),
    (
        53,
        ResultCode::UnwillingToPerform,
        "server unwilling to perform",
    ),
    (64, ResultCode::NamingViolation, "naming violation"),
    (
        65,
        ResultCode::ObjectClassViolation,
        "object class violation (is the session-recording schema loaded?)",
    ),
    (
        66,
        ResultCode::NotAllowedOnNonLeaf,
        "not allowed on non-leaf",
    ),
    (68, ResultCode::EntryAlreadyExists, "entry already exists"),
    (80, ResultCode::OtherServerError, "other server error"),
];

impl ResultCode {
    pub fn from_rc(rc: u32) -> ResultCode {
        CODES
            .iter()
            .find(|(n, _, _)| *n == rc)
            .map_or(ResultCode::Other(rc), |(_, c, _)| *c)
    }

    pub fn rc(self) -> u32 {
        match self {
            ResultCode::Other(n) => n,
            c => CODES
                .iter()
                .find(|(_, k, _)| *k == c)
                .map_or(0, |(n, _, _)| *n),
        }
    }

    fn name(self) -> &'static str {
        CODES
            .iter()
            .find(|(_, k, _)| *k == self)
            .map_or("LDAP error", |(_, _, s)| s)
    }
}

/// A non-success LDAP result: its code, the server's diagnostic text and
/// (for noSuchObject) the closest existing entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultError {
    pub code: ResultCode,
    pub text: String,
    pub matched: String,
}

impl From<&ldap3::LdapResult> for ResultError {
    fn from(r: &ldap3::LdapResult) -> ResultError {
        ResultError {
            code: ResultCode::from_rc(r.rc),
            text: r.text.clone(),
            matched: r.matched.clone(),
        }
    }
}

/// e.g. `invalid attribute syntax (21): ipaSessionRecordingLogInput: value #0 invalid per syntax`
impl fmt::Display for ResultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code.name(), self.code.rc())?;
        if !self.text.is_empty() {
            write!(f, ": {}", self.text.trim())?;
        }
        if self.code == ResultCode::NoSuchObject && !self.matched.is_empty() {
            write!(f, " (closest existing entry: {})", self.matched)?;
        }
        Ok(())
    }
}

impl std::error::Error for ResultError {}

/// The result in words (see `ResultError`'s Display).
pub fn result_text(r: &ldap3::LdapResult) -> String {
    ResultError::from(r).to_string()
}

/// Why an LDAP operation failed: the server answered with an error
/// result, or there was no usable answer (already described in words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdapFailure {
    Result(ResultError),
    Transport(String),
}

impl fmt::Display for LdapFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LdapFailure::Result(e) => e.fmt(f),
            LdapFailure::Transport(s) => f.write_str(s),
        }
    }
}

/// A failed operation: what was attempted (e.g. `search BASE FILTER`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub op: String,
    pub cause: LdapFailure,
}

impl OpError {
    /// The server's result code, if the server answered.
    pub fn code(&self) -> Option<ResultCode> {
        match &self.cause {
            LdapFailure::Result(r) => Some(r.code),
            LdapFailure::Transport(_) => None,
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.cause)
    }
}

impl std::error::Error for OpError {}

/// For callers that only report the error.
impl From<OpError> for String {
    fn from(e: OpError) -> String {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(rc: u32, text: &str, matched: &str) -> ldap3::LdapResult {
        ldap3::LdapResult {
            rc,
            matched: matched.into(),
            text: text.into(),
            refs: vec![],
            ctrls: vec![],
        }
    }

    #[test]
    fn codes_round_trip_and_read_as_before() {
        for (n, c, _) in CODES {
            assert_eq!(ResultCode::from_rc(n), c);
            assert_eq!(c.rc(), n);
        }
        assert_eq!(ResultCode::from_rc(999), ResultCode::Other(999));
        assert_eq!(result_text(&res(999, "", "")), "LDAP error (999)");
        assert_eq!(
            result_text(&res(32, " gone ", "ou=x")),
            "no such object (32): gone (closest existing entry: ou=x)"
        );
        // "matched" is only shown for noSuchObject.
        assert_eq!(
            result_text(&res(21, "bad", "ou=x")),
            "invalid attribute syntax (21): bad"
        );
    }

    #[test]
    fn op_error_exposes_the_code_only_for_server_results() {
        let e = OpError {
            op: "search b f".into(),
            cause: LdapFailure::Result(ResultError::from(&res(32, "", ""))),
        };
        assert_eq!(e.code(), Some(ResultCode::NoSuchObject));
        assert_eq!(e.to_string(), "search b f: no such object (32)");
        let t = OpError {
            op: "search b f".into(),
            cause: LdapFailure::Transport("no such object (32)".into()),
        };
        assert_eq!(t.code(), None);
    }
}
