//! tlog-rs-rec's command line, modelled on tlog-rec's options. Recording
//! options become one config layer ("command line") over files and env, so
//! they are validated exactly like config files.

use std::ffi::OsString;

use crate::jsonc::{Node, Value};

#[derive(Debug, Clone, Default)]
pub struct RecArgs {
    pub help: bool,
    pub version: bool,
    pub configuration: bool,
    /// Config overrides from options, as a tlog config object.
    pub overrides: Vec<(String, Node)>,
    /// Program and its arguments.
    pub program: Vec<OsString>,
}

pub const USAGE: &str = "Usage: tlog-rs-rec [OPTION...] [CMD [ARG...]]
Record a terminal session (tlog JSON log format).

  -h, --help                  show this help and exit
  -v, --version               show the version and exit
      --configuration         print the merged configuration and exit
  -o, --file-path=FILE        log to FILE (file writer)
  -w, --writer=NAME           file, syslog or journal
      --log-input[=BOOL]      log terminal input (default false)
      --log-output[=BOOL]     log terminal output (default true)
      --log-window[=BOOL]     log window size changes (default true)
      --payload=BYTES         maximum encoded payload per message (>= 32)
      --latency=SECONDS       flush unfilled messages after SECONDS (>= 1)
      --limit-rate=BYTES      rate limit, bytes per second
      --limit-burst=BYTES     rate limit burst, bytes
      --limit-action=ACTION   pass, delay or drop
      --notice=TEXT           print TEXT to stderr before starting
      --syslog-facility=NAME  --syslog-priority=NAME
      --journal-priority=NAME --journal-augment[=BOOL]
      --sink-failure=MODE     strict (end the session) or warn

The program is CMD, else $SHELL, else the passwd shell, found through PATH.
Config: /etc/tlog-rs/rec.conf, then $TLOG_REC_CONF_FILE, then
$TLOG_REC_CONF_TEXT, then these options.";

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
}

/// (long name, short letter, config key path, value type)
type OptSpec = (&'static str, Option<char>, &'static str, Ty);

const OPTIONS: &[OptSpec] = &[
    ("file-path", Some('o'), "file.path", Ty::Str),
    ("writer", Some('w'), "writer", Ty::Str),
    ("log-input", None, "log.input", Ty::Bool),
    ("log-output", None, "log.output", Ty::Bool),
    ("log-window", None, "log.window", Ty::Bool),
    ("payload", None, "payload", Ty::Int),
    ("latency", None, "latency", Ty::Int),
    ("limit-rate", None, "limit.rate", Ty::Int),
    ("limit-burst", None, "limit.burst", Ty::Int),
    ("limit-action", None, "limit.action", Ty::Str),
    ("notice", None, "notice", Ty::Str),
    ("syslog-facility", None, "syslog.facility", Ty::Str),
    ("syslog-priority", None, "syslog.priority", Ty::Str),
    ("journal-priority", None, "journal.priority", Ty::Str),
    ("journal-augment", None, "journal.augment", Ty::Bool),
    ("sink-failure", None, "sink_failure", Ty::Str),
];

fn parse_bool(opt: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("--{opt}: expected true or false, got \"{v}\"")),
    }
}

fn typed(opt: &str, ty: Ty, v: &str) -> Result<Value, String> {
    Ok(match ty {
        Ty::Str => Value::Str(v.to_string()),
        Ty::Bool => Value::Bool(parse_bool(opt, v)?),
        Ty::Int => Value::Int(
            v.parse()
                .map_err(|_| format!("--{opt}: expected an integer, got \"{v}\""))?,
        ),
    })
}

/// Insert `value` at dotted `path` into an object member list.
fn insert(members: &mut Vec<(String, Node)>, path: &str, value: Value) {
    let (head, tail) = match path.split_once('.') {
        Some((h, t)) => (h, Some(t)),
        None => (path, None),
    };
    let idx = match members.iter().position(|(k, _)| k == head) {
        Some(i) => i,
        None => {
            members.push((head.to_string(), Node::new(Value::Object(Vec::new()))));
            members.len() - 1
        }
    };
    match tail {
        None => members[idx].1 = Node::new(value),
        Some(t) => {
            if let Value::Object(m) = &mut members[idx].1.value {
                insert(m, t, value);
            }
        }
    }
}

/// Parse arguments after argv[0]. Options stop at the first non-option or `--`.
pub fn parse(args: &[OsString]) -> Result<RecArgs, String> {
    let mut r = RecArgs::default();
    let mut i = 0;
    while i < args.len() {
        let Some(arg) = args[i].to_str() else { break };
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        i += 1;
        let (spec, inline): (&OptSpec, Option<String>) = if let Some(long) = arg.strip_prefix("--")
        {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            match name {
                "help" => {
                    r.help = true;
                    continue;
                }
                "version" => {
                    r.version = true;
                    continue;
                }
                "configuration" => {
                    r.configuration = true;
                    continue;
                }
                _ => {}
            }
            let Some(spec) = OPTIONS.iter().find(|o| o.0 == name) else {
                return Err(format!("Unknown option: --{name}"));
            };
            (spec, val)
        } else {
            let c = arg[1..].chars().next().unwrap_or('-');
            let rest = &arg[1 + c.len_utf8()..];
            match c {
                'h' | 'v' if rest.is_empty() => {
                    if c == 'h' {
                        r.help = true
                    } else {
                        r.version = true
                    }
                    continue;
                }
                _ => {}
            }
            let Some(spec) = OPTIONS.iter().find(|o| o.1 == Some(c)) else {
                return Err(format!("Unknown option: -{c}"));
            };
            (spec, (!rest.is_empty()).then(|| rest.to_string()))
        };
        let (name, _, key, ty) = *spec;
        let value = match (ty, inline) {
            (Ty::Bool, None) => "true".to_string(),
            (_, Some(v)) => v,
            (_, None) => {
                let v = args
                    .get(i)
                    .ok_or_else(|| format!("--{name}: requires a value"))?;
                i += 1;
                v.to_str()
                    .ok_or_else(|| format!("--{name}: value is not valid UTF-8"))?
                    .to_string()
            }
        };
        insert(&mut r.overrides, key, typed(name, ty, &value)?);
    }
    r.program = args[i..].to_vec();
    Ok(r)
}

impl RecArgs {
    /// The options as one config tree.
    pub fn override_node(&self) -> Node {
        Node::new(Value::Object(self.overrides.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigBuilder, Program};

    fn p(v: &[&str]) -> Result<RecArgs, String> {
        parse(&v.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn options_become_config() {
        let a = p(&[
            "-o",
            "/tmp/x",
            "--log-input",
            "--log-window=false",
            "--payload=64",
            "bash",
            "-c",
            "x",
        ])
        .unwrap();
        let mut b = ConfigBuilder::new(Program::Rec);
        b.add_node("command line", a.override_node()).unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.file_path.as_deref(), Some("/tmp/x"));
        assert!(c.log_input && !c.log_window);
        assert_eq!(c.payload, 64);
        assert_eq!(a.program, ["bash", "-c", "x"].map(OsString::from));
        let a = p(&["-o/tmp/y", "--", "-weird"]).unwrap();
        assert_eq!(a.program, ["-weird"].map(OsString::from));
    }

    #[test]
    fn bad_options() {
        assert!(p(&["--payload=x"]).unwrap_err().contains("--payload"));
        assert!(p(&["--log-input=maybe"]).is_err());
        assert!(p(&["--nope"]).is_err());
        assert!(p(&["-o"]).unwrap_err().contains("requires a value"));
        let a = p(&["--payload=8"]).unwrap();
        let mut b = ConfigBuilder::new(Program::Rec);
        let e = b.add_node("command line", a.override_node()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "command line: \"payload\": must be between 32 and 1048576 bytes, got 8"
        );
    }
}
