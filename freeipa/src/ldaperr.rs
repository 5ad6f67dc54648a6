//! LDAP result codes as a type (callers match on the code, never on text),
//! and in words (server errors passed on readably).

use std::fmt;

/// Defines `ResultCode` from one table of number, variant and words, so
/// the three cannot drift apart.
macro_rules! result_codes {
    ($($n:literal $v:ident $s:literal,)+) => {
        /// The LDAP result codes (RFC 4511, 4.1.9) this crate names; any
        /// other is kept as `Other` with its number.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ResultCode {
            $($v,)+
            Other(u32),
        }

        impl ResultCode {
            #[cfg(test)]
            const NAMED: &'static [ResultCode] = &[$(ResultCode::$v),+];

            pub fn from_rc(rc: u32) -> ResultCode {
                match rc {
                    $($n => ResultCode::$v,)+
                    n => ResultCode::Other(n),
                }
            }

            pub fn rc(self) -> u32 {
                match self {
                    $(ResultCode::$v => $n,)+
                    ResultCode::Other(n) => n,
                }
            }

            fn name(self) -> &'static str {
                match self {
                    $(ResultCode::$v => $s,)+
                    ResultCode::Other(_) => "LDAP error",
                }
            }
        }
    };
}

#[rustfmt::skip]
result_codes! {
    1 OperationsError "operations error",
    2 ProtocolError "protocol error",
    3 TimeLimitExceeded "time limit exceeded",
    4 SizeLimitExceeded "size limit exceeded",
    7 AuthMethodNotSupported "authentication method not supported",
    8 StrongerAuthRequired "stronger authentication required",
    11 AdminLimitExceeded "administrative limit exceeded",
    13 ConfidentialityRequired "confidentiality required",
    16 NoSuchAttribute "no such attribute",
    17 UndefinedAttributeType "undefined attribute type (is the session-recording schema loaded?)",
    19 ConstraintViolation "constraint violation",
    20 AttributeOrValueExists "attribute or value exists",
    21 InvalidAttributeSyntax "invalid attribute syntax",
    32 NoSuchObject "no such object",
    34 InvalidDnSyntax "invalid DN syntax",
    48 InappropriateAuthentication "inappropriate authentication",
    49 InvalidCredentials "invalid credentials",
    50 InsufficientAccessRights "insufficient access rights",
    51 Busy "server busy",
    52 Unavailable "server unavailable",
    53 UnwillingToPerform "server unwilling to perform",
    64 NamingViolation "naming violation",
    65 ObjectClassViolation "object class violation (is the session-recording schema loaded?)",
    66 NotAllowedOnNonLeaf "not allowed on non-leaf",
    68 EntryAlreadyExists "entry already exists",
    80 OtherServerError "other server error",
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
        assert_eq!(ResultCode::NAMED.len(), 26);
        for &c in ResultCode::NAMED {
            assert_eq!(ResultCode::from_rc(c.rc()), c);
        }
        assert_eq!(ResultCode::from_rc(32), ResultCode::NoSuchObject);
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
