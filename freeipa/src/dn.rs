//! Just enough DN handling to compare the DNs FreeIPA stores in memberUser,
//! memberHost, member and seeAlso: servers return them in stored case, slapd
//! overlays sometimes lowercased, so compare a normal form.

/// Lowercase, with the spaces around `,` and `=` removed (escaped characters
/// are kept as written). Good for the ASCII names FreeIPA uses.
pub fn normalize(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut chars = dn.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(n) = chars.next() {
                    out.extend(n.to_lowercase());
                }
            }
            ',' | '=' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
                while chars.peek() == Some(&' ') {
                    chars.next();
                }
            }
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Split a (normalized) DN at its first unescaped comma: (rdn, parent).
pub fn split_first(dn: &str) -> (&str, &str) {
    let bytes = dn.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b',' => return (&dn[..i], &dn[i + 1..]),
            _ => i += 1,
        }
    }
    (dn, "")
}

/// The attribute and (unescaped) value of a DN's first RDN, e.g.
/// `uid=alice,cn=users,...` -> ("uid", "alice").
pub fn first_rdn(dn: &str) -> Option<(String, String)> {
    let (rdn, _) = split_first(dn);
    let (attr, value) = rdn.split_once('=')?;
    Some((attr.trim().to_lowercase(), unescape(value.trim())))
}

/// Parent DN (normalized input gives normalized output).
pub fn parent(dn: &str) -> &str {
    split_first(dn).1
}

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `attr=value(,attr=value)*` with plausible attribute names.
pub fn looks_like_dn(dn: &str) -> bool {
    let n = normalize(dn);
    if n.is_empty() || n.ends_with(',') {
        return false;
    }
    let mut rest = n.as_str();
    loop {
        let (rdn, tail) = split_first(rest);
        let Some((attr, value)) = rdn.split_once('=') else {
            return false;
        };
        if attr.is_empty()
            || value.is_empty()
            || !attr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return false;
        }
        if tail.is_empty() {
            return true;
        }
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_form() {
        assert_eq!(
            normalize(" CN=Sudo , cn=HBACServiceGroups,cn = hbac,DC=Example,dc=test"),
            "cn=sudo,cn=hbacservicegroups,cn=hbac,dc=example,dc=test"
        );
        assert_eq!(normalize("cn=a\\,b,dc=x"), "cn=a\\,b,dc=x");
    }

    #[test]
    fn rdn_and_parent() {
        let d = normalize("uid=Alice,cn=users,cn=accounts,dc=example,dc=test");
        assert_eq!(first_rdn(&d), Some(("uid".into(), "alice".into())));
        assert_eq!(parent(&d), "cn=users,cn=accounts,dc=example,dc=test");
        assert_eq!(
            first_rdn("cn=a\\,b,dc=x"),
            Some(("cn".into(), "a,b".into()))
        );
    }

    #[test]
    fn dn_shape() {
        assert!(looks_like_dn("dc=example,dc=com"));
        assert!(!looks_like_dn("example.com"));
        assert!(!looks_like_dn("dc=example,"));
        assert!(!looks_like_dn(""));
    }
}
