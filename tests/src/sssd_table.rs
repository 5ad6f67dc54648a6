//! Parser for policy/tests/sssd-conformance.txt (see the format described
//! at its top), for the policy crate's conformance test and the end-to-end
//! tests policy_nss and policy_sssd_oracle.

#[derive(Debug, Clone, Default)]
pub struct Case {
    pub name: String,
    pub description: String,
    /// (relative path, content, mode), e.g. ("conf.d/10-a.conf", ..., 0o600).
    /// Mode defaults to 0600, what SSSD requires; `-- FILE mode=0644` sets it.
    pub files: Vec<(String, String, u32)>,
    pub record: Vec<String>,
    pub not: Vec<String>,
    /// "FILE:LINE" where the policy must fail to load.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub passwd: String,
    pub group: String,
    pub cases: Vec<Case>,
}

pub fn parse(text: &str) -> Table {
    let mut t = Table::default();
    let mut section = String::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("== ") {
            section = head.to_string();
            block = None;
            if let Some(rest) = head.strip_prefix("case ") {
                let (name, desc) = rest.split_once(':').expect("case NAME: description");
                t.cases.push(Case {
                    name: name.trim().to_string(),
                    description: desc.trim().to_string(),
                    ..Default::default()
                });
            }
            continue;
        }
        if section.is_empty() {
            continue; // header comments
        }
        if let Some(b) = line.strip_prefix("-- ") {
            block = Some(b.trim().to_string());
            if b.trim() != "expect" {
                let case = t.cases.last_mut().expect("file block inside a case");
                let mut words = b.split_whitespace();
                let name = words.next().expect("file name").to_string();
                let mode = match words.next().and_then(|w| w.strip_prefix("mode=")) {
                    Some(m) => u32::from_str_radix(m, 8).expect("octal mode"),
                    None => 0o600,
                };
                case.files.push((name, String::new(), mode));
            }
            continue;
        }
        match (section.as_str(), block.as_deref()) {
            ("passwd", _) if !line.trim().is_empty() => t.passwd.push_str(&format!("{line}\n")),
            ("group", _) if !line.trim().is_empty() => t.group.push_str(&format!("{line}\n")),
            (_, Some("expect")) => {
                let case = t.cases.last_mut().unwrap();
                if let Some(u) = line.strip_prefix("record:") {
                    case.record.extend(u.split_whitespace().map(str::to_string));
                } else if let Some(u) = line.strip_prefix("not:") {
                    case.not.extend(u.split_whitespace().map(str::to_string));
                } else if let Some(e) = line.strip_prefix("error:") {
                    case.error = Some(e.trim().to_string());
                } else if !line.trim().is_empty() {
                    panic!("case {}: bad expect line {line:?}", case.name);
                }
            }
            (_, Some(_)) => {
                let case = t.cases.last_mut().unwrap();
                let f = case.files.last_mut().unwrap();
                f.1.push_str(line);
                f.1.push('\n');
            }
            _ => {}
        }
    }
    // Blank separator lines before the next "==" belong to no file.
    for c in &mut t.cases {
        for f in &mut c.files {
            while f.1.ends_with("\n\n") {
                f.1.pop();
            }
        }
    }
    t
}
