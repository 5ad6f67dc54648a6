//! The argument words of `check` and `audit-rules`: UTF-8 only, an
//! option's value taken from the next word, and the usage on --help or error.

use std::ffi::OsString;

/// An argument as text, or which one is not UTF-8.
pub fn utf8(arg: OsString) -> Result<String, String> {
    arg.into_string()
        .map_err(|a| format!("argument {a:?} is not UTF-8"))
}

/// The value of option `name`: the next word.
pub fn value(it: &mut impl Iterator<Item = OsString>, name: &str) -> Result<String, String> {
    it.next()
        .ok_or_else(|| format!("{name} needs a value"))?
        .into_string()
        .map_err(|v| format!("{name} {v:?} is not UTF-8"))
}

/// Parsed arguments, or the exit code after the usage was shown: on
/// stdout and 0 for --help (`None`), on stderr with the error and 2.
pub fn or_usage<T>(parsed: Result<Option<T>, String>, cmd: &str, usage: &str) -> Result<T, i32> {
    match parsed {
        Ok(Some(a)) => Ok(a),
        Ok(None) => {
            println!("{usage}");
            Err(0)
        }
        Err(e) => {
            eprintln!("tlog-rs {cmd}: {e}\n\n{usage}");
            Err(2)
        }
    }
}

/// Argument words from text, for the parsers' tests.
#[cfg(test)]
pub fn words(w: &[&str]) -> Vec<OsString> {
    w.iter().map(OsString::from).collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    #[test]
    fn a_value_is_the_next_word_and_must_exist_and_be_utf8() {
        let mut it = ["a".into(), OsString::from_vec(vec![0xff])].into_iter();
        assert_eq!(value(&mut it, "--x").unwrap(), "a");
        assert!(value(&mut it, "--x").unwrap_err().contains("not UTF-8"));
        assert_eq!(value(&mut it, "--x").unwrap_err(), "--x needs a value");
        assert!(utf8(OsString::from_vec(vec![0xff])).is_err());
    }
}
