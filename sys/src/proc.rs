//! `/proc/<pid>/stat`, read and parsed in one place: a process's parent
//! and start time, and the ancestor walk built on them.

/// The fields of `/proc/<pid>/stat` the project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 4.
    pub ppid: u32,
    /// Field 22: clock ticks since boot; with the pid it names a process
    /// across pid reuse.
    pub start_time: u64,
}

/// Parse `/proc/<pid>/stat`. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted after the LAST ')'.
pub fn proc_stat(pid: u32) -> std::io::Result<ProcStat> {
    parse_proc_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat: unexpected format"),
        )
    })
}

fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // rest starts at field 3 (state): ppid is field 4, starttime field 22.
    let mut fields = rest.split_whitespace();
    let ppid = fields.nth(1)?.parse().ok()?;
    let start_time = fields.nth(17)?.parse().ok()?;
    Some(ProcStat { ppid, start_time })
}

/// True if `ancestor` is a strict ancestor of process `pid`.
pub fn is_ancestor_of(ancestor: u32, pid: u32) -> bool {
    let mut cur = pid;
    // The bound stops a loop on a corrupt /proc.
    for _ in 0..4096 {
        match proc_stat(cur) {
            Ok(s) if s.ppid == ancestor => return true,
            Ok(s) if s.ppid > 0 => cur = s.ppid,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_after_the_last_parenthesis() {
        let line = "123 (a) b) (c) S 77 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        assert_eq!(
            parse_proc_stat(line),
            Some(ProcStat {
                ppid: 77,
                start_time: 98765
            })
        );
        assert_eq!(parse_proc_stat("123 (x) S 1"), None);
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn reads_our_own_process() {
        let s = proc_stat(std::process::id()).unwrap();
        assert_eq!(s.ppid, std::os::unix::process::parent_id());
        assert!(s.start_time > 0);
        assert!(is_ancestor_of(s.ppid, std::process::id()));
        assert!(!is_ancestor_of(std::process::id(), s.ppid));
    }
}
