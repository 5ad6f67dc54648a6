//! The project's schema files load into a real OpenLDAP slapd, and the server
//! then enforces them (syntax and MUST attributes) on session-recording rules.

use tlog_rs_tests::slapd::{Slapd, SlapdOptions, BASE_DN};

#[test]
fn schema_and_example_dit_load_into_slapd() {
    let s = Slapd::start(SlapdOptions::default());
    let out = s.search(
        &format!("cn=sessionrecording,{BASE_DN}"),
        "(&(objectClass=ipaSessionRecordingRule)(ipaEnabledFlag=TRUE))",
        &["cn"],
    );
    let mut names: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("cn: ")).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "contractors_via_hbac",
            "everyone_su_login_audit",
            "exempt_alice_bastion",
            "privileged_on_production"
        ]
    );
    // The defaults live on the container (auxiliary class).
    let c = s.search(
        &format!("cn=sessionrecording,{BASE_DN}"),
        "(objectClass=ipaSessionRecordingDefaults)",
        &["ipaSessionRecordingRateLimit"],
    );
    assert!(c.contains("ipaSessionRecordingRateLimit: 16384"), "{c}");
}

fn rule(extra: &str) -> String {
    format!(
        "dn: ipaUniqueID=11111111-0000-4000-8000-000000000001,cn=sessionrecording,{BASE_DN}
changetype: add
objectClass: ipaAssociation
objectClass: ipaSessionRecordingRule
cn: schema_probe
{extra}"
    )
}

#[test]
fn server_enforces_rule_syntax_and_required_attributes() {
    let s = Slapd::start(SlapdOptions::default());
    // A BOOLEAN attribute with a non-boolean value is refused by the schema.
    let (ok, msg) = s.ldap_tool(
        "ldapmodify",
        &rule(
            "ipaUniqueID: 11111111-0000-4000-8000-000000000001\nipaSessionRecordingLogInput: yes\n",
        ),
    );
    assert!(!ok && msg.contains("Invalid syntax"), "{msg}");
    // INTEGER priority with a word.
    let (ok, msg) = s.ldap_tool(
        "ldapmodify",
        &rule("ipaUniqueID: 11111111-0000-4000-8000-000000000001\nipaSessionRecordingPriority: high\n"),
    );
    assert!(!ok && msg.contains("Invalid syntax"), "{msg}");
    // ipaUniqueID is a MUST of ipaAssociation.
    // (RDN cn=..., since slapd would otherwise copy the RDN value into the entry)
    let no_id = rule("ipaSessionRecordingMode: record\n").replace(
        "ipaUniqueID=11111111-0000-4000-8000-000000000001,",
        "cn=schema_probe,",
    );
    let (ok, msg) = s.ldap_tool("ldapmodify", &no_id);
    assert!(
        !ok && msg.contains("requires attribute 'ipaUniqueID'"),
        "{msg}"
    );
    // A well-formed rule with every setting is accepted.
    let (ok, msg) = s.ldap_tool(
        "ldapmodify",
        &rule(
            "ipaUniqueID: 11111111-0000-4000-8000-000000000001
userCategory: all
hostCategory: all
serviceCategory: all
ipaEnabledFlag: TRUE
ipaSessionRecordingPriority: 7
ipaSessionRecordingMode: exempt
ipaSessionRecordingLogInput: TRUE
ipaSessionRecordingLogOutput: FALSE
ipaSessionRecordingLogWindow: TRUE
ipaSessionRecordingRateLimit: 1024
ipaSessionRecordingBurstLimit: 2048
ipaSessionRecordingLimitAction: drop
ipaSessionRecordingAuditLevel: login
",
        ),
    );
    assert!(ok, "{msg}");
}
