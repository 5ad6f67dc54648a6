//! A small getopt-like argument scanner: `-x VALUE`, `-xVALUE`,
//! `--long VALUE`, `--long=VALUE`, flags, and positionals.

use std::ffi::OsString;

pub struct Args {
    items: Vec<String>,
    pos: usize,
    /// Value glued to the current option (`--x=1`, `-x1`).
    pending: Option<String>,
}

pub enum Arg {
    /// Option name as written without dashes: "s", "speed".
    Opt(String),
    Positional(String),
}

impl Args {
    pub fn new(args: Vec<OsString>) -> Result<Self, String> {
        let items = args
            .into_iter()
            .map(|a| {
                a.into_string()
                    .map_err(|a| format!("argument {a:?} is not valid UTF-8"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Args {
            items,
            pos: 0,
            pending: None,
        })
    }

    pub fn next(&mut self) -> Result<Option<Arg>, String> {
        if let Some(v) = self.pending.take() {
            return Err(format!("option does not take a value: {v:?}"));
        }
        let Some(a) = self.items.get(self.pos).cloned() else {
            return Ok(None);
        };
        self.pos += 1;
        if a == "--" || !a.starts_with('-') || a == "-" {
            if a == "--" {
                return Ok(self.items.get(self.pos).cloned().map(|p| {
                    self.pos += 1;
                    Arg::Positional(p)
                }));
            }
            return Ok(Some(Arg::Positional(a)));
        }
        if let Some(long) = a.strip_prefix("--") {
            if let Some((name, v)) = long.split_once('=') {
                self.pending = Some(v.to_string());
                return Ok(Some(Arg::Opt(name.to_string())));
            }
            return Ok(Some(Arg::Opt(long.to_string())));
        }
        let short = &a[1..];
        let mut chars = short.chars();
        let c = chars.next().unwrap_or('-');
        let rest: String = chars.collect();
        if !rest.is_empty() {
            self.pending = Some(rest);
        }
        Ok(Some(Arg::Opt(c.to_string())))
    }

    /// A flag may not be followed by a glued value; short flags can be
    /// bundled (`-pf`) by re-reading the rest as flags.
    pub fn flag(&mut self) -> Result<(), String> {
        if let Some(rest) = self.pending.take() {
            if rest.starts_with(|c: char| c.is_ascii_alphabetic()) && !rest.contains('=') {
                // `-pf`: put back `-f`.
                self.pos -= 1;
                self.items[self.pos] = format!("-{rest}");
                return Ok(());
            }
            return Err(format!("option does not take a value: {rest:?}"));
        }
        Ok(())
    }

    pub fn value(&mut self, name: &str) -> Result<String, String> {
        if let Some(v) = self.pending.take() {
            return Ok(v);
        }
        let v = self
            .items
            .get(self.pos)
            .cloned()
            .ok_or_else(|| format!("option {name} needs a value"))?;
        self.pos += 1;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(a: &[&str]) -> Vec<String> {
        let mut args = Args::new(a.iter().map(OsString::from).collect()).unwrap();
        let mut out = vec![];
        while let Some(x) = args.next().unwrap() {
            match x {
                Arg::Opt(o) if o == "s" || o == "speed" => {
                    out.push(format!("{o}={}", args.value(&o).unwrap()))
                }
                Arg::Opt(o) => {
                    args.flag().unwrap();
                    out.push(o)
                }
                Arg::Positional(p) => out.push(format!("@{p}")),
            }
        }
        out
    }

    #[test]
    fn forms() {
        assert_eq!(
            scan(&["-s", "2", "-s4", "--speed=8", "--speed", "16", "f.log"]),
            ["s=2", "s=4", "speed=8", "speed=16", "@f.log"]
        );
        assert_eq!(
            scan(&["-pf", "--lax", "--", "-x"]),
            ["p", "f", "lax", "@-x"]
        );
    }
}
