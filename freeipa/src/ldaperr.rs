//! LDAP result codes in words (server errors passed on readably).

/// e.g. `invalid attribute syntax (21): ipaSessionRecordingLogInput: value #0 invalid per syntax`
pub fn result_text(r: &ldap3::LdapResult) -> String {
    let name = match r.rc {
        1 => "operations error",
        2 => "protocol error",
        3 => "time limit exceeded",
        4 => "size limit exceeded",
        7 => "authentication method not supported",
        8 => "stronger authentication required",
        11 => "administrative limit exceeded",
        13 => "confidentiality required",
        16 => "no such attribute",
        17 => "undefined attribute type (is the session-recording schema loaded?)",
        19 => "constraint violation",
        20 => "attribute or value exists",
        21 => "invalid attribute syntax",
        32 => "no such object",
        34 => "invalid DN syntax",
        48 => "inappropriate authentication",
        49 => "invalid credentials",
        50 => "insufficient access rights",
        51 => "server busy",
        52 => "server unavailable",
        53 => "server unwilling to perform",
        64 => "naming violation",
        65 => "object class violation (is the session-recording schema loaded?)",
        66 => "not allowed on non-leaf",
        68 => "entry already exists",
        80 => "other server error",
        _ => "LDAP error",
    };
    let mut s = format!("{name} ({})", r.rc);
    if !r.text.is_empty() {
        s.push_str(": ");
        s.push_str(r.text.trim());
    }
    if r.rc == 32 && !r.matched.is_empty() {
        s.push_str(&format!(" (closest existing entry: {})", r.matched));
    }
    s
}
