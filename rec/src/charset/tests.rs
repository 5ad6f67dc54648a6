use super::*;

fn cs(name: &str) -> Charset {
    name.parse().unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn locale_variables_in_order_of_precedence() {
    let env = |v: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
        v.iter().map(|(k, v)| (k.into(), v.into())).collect()
    };
    assert_eq!(ctype_locale(&env(&[])), "C");
    assert_eq!(ctype_locale(&env(&[("LANG", "a")])), "a");
    assert_eq!(ctype_locale(&env(&[("LANG", "a"), ("LC_CTYPE", "b")])), "b");
    assert_eq!(
        ctype_locale(&env(&[("LC_ALL", "c"), ("LANG", "a"), ("LC_CTYPE", "b")])),
        "c"
    );
    // An empty variable does not count, as in setlocale.
    assert_eq!(ctype_locale(&env(&[("LC_ALL", ""), ("LANG", "a")])), "a");
    assert_eq!(codeset_in_name("ru_RU.KOI8-R".as_ref()), Some("KOI8-R"));
    assert_eq!(
        codeset_in_name("de_DE.iso885915@euro".as_ref()),
        Some("iso885915")
    );
    assert_eq!(codeset_in_name("de_DE".as_ref()), None);
}

#[test]
fn installed_and_missing_locales() {
    // The C locale is always there; its ASCII takes the UTF-8 path.
    assert_eq!(codeset_of("C".as_ref()).as_deref(), Some("ANSI_X3.4-1968"));
    assert_eq!(codeset_of("../../tmp/x".as_ref()), None);
    let env = |v: &str| vec![(OsString::from("LANG"), OsString::from(v))];
    assert_eq!(session_charset(&env("C")), (Charset::Utf8, None));
    assert_eq!(session_charset(&env("POSIX")), (Charset::Utf8, None));
    // Not installed: the charset its name spells, said once.
    let (c, w) = session_charset(&env("xx_NOWHERE.KOI8-R"));
    assert_eq!(c, cs("KOI8-R"));
    assert!(w.unwrap().contains("not installed"));
    let (c, w) = session_charset(&env("xx_NOWHERE.EUC-TW"));
    assert_eq!(c, Charset::Utf8);
    assert!(w.unwrap().contains("unsupported charset \"EUC-TW\""));
    let (c, w) = session_charset(&env("xx_NOWHERE"));
    assert_eq!(c, Charset::Utf8);
    assert!(w.is_some());
    // UTF-8 by name needs no warning, installed or not.
    assert_eq!(
        session_charset(&env("xx_NOWHERE.UTF-8")),
        (Charset::Utf8, None)
    );
}
