//! The file writer: one `write()` per message on an O_APPEND descriptor, so
//! several recorders can share one log file without interleaving lines.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::backend::Backend;
use super::event::EventRecord;
use tlog_rs_sys::cvt_r;

/// Open flags of the recording file: O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC,
/// mode 0600 (0640 in a set-gid directory, see `new_file_mode`), like tlog; plus O_NOCTTY so a tty given as the
/// path never becomes our controlling terminal.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    open_with(path, 0)
}

/// The sidecar: the same flags plus O_NOFOLLOW. It is a tlog-rs addition
/// with no compatibility to keep, and it lands next to a log file that may
/// sit in a shared directory, so a planted symlink must not redirect the
/// recorder's writes.
pub(crate) fn open_sidecar(path: &Path) -> io::Result<File> {
    open_with(path, libc::O_NOFOLLOW)
}

fn open_with(path: &Path, extra: libc::c_int) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(new_file_mode(path))
        // std already sets O_CLOEXEC; spelled out because the fd must never
        // leak into the recorded shell.
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | extra)
        .open(path)?;
    check_owner(path, &file)?;
    Ok(file)
}

/// Mode of a new log or sidecar: 0600, or 0640 in a set-gid directory, whose
/// group (e.g. the auditors' `adm`) then owns the file. Never group-readable
/// otherwise: the file's group would be the recorded user's primary group.
pub(crate) fn new_file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.mode() & libc::S_ISGID != 0 => 0o640,
        _ => 0o600,
    }
}

/// A regular log file must belong to the account we write as: a file the
/// recorded user owns (planted in a shared directory) could be rewritten by
/// her, so it is refused rather than trusted.
fn check_owner(path: &Path, file: &File) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata()?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.file_type().is_file() && meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is owned by uid {}, not by the recorder's uid {me}: refusing a log others could rewrite",
                path.display(),
                meta.uid()
            ),
        ));
    }
    Ok(())
}

/// `<path>.events`: where session start/end entries go for the file writer.
pub fn events_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".events");
    PathBuf::from(s)
}

/// Write all of `buf` with as few `write()` calls as the kernel allows: one,
/// unless it returns short (disk full, file size limit). EINTR is retried.
/// On error, `Err((written, e))` says how much of `buf` already landed.
pub(crate) fn write_whole(file: &File, buf: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &buf[done..];
        // SAFETY: `rest` is a valid, initialised slice for its whole length and
        // the fd is owned by `file`, which outlives the call.
        let n = cvt_r(|| unsafe {
            libc::write(
                std::os::fd::AsRawFd::as_raw_fd(file),
                rest.as_ptr().cast(),
                rest.len(),
            )
        })
        .map_err(|e| (done, e))?;
        if n == 0 {
            return Err((done, io::Error::from(io::ErrorKind::WriteZero)));
        }
        done += n as usize;
    }
    Ok(())
}

/// One append-only file plus its sidecar for events.
pub struct FileBackend {
    path: PathBuf,
    file: Option<File>,
    events_path: PathBuf,
    events: Option<File>,
    /// A previous write stopped mid-line: the next write starts with '\n' so
    /// that later messages stay one per line.
    torn: bool,
    events_torn: bool,
}

impl FileBackend {
    /// Open both files; the error names the path that failed.
    pub fn open(path: &Path) -> (Self, Result<(), io::Error>) {
        let mut b = FileBackend {
            path: path.to_path_buf(),
            file: None,
            events_path: events_path(path),
            events: None,
            torn: false,
            events_torn: false,
        };
        let r = b.reconnect();
        (b, r)
    }

    fn open_log(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(open_append(&self.path).map_err(|e| with_path(&self.path, e))?);
        }
        Ok(())
    }

    fn open_events(&mut self) -> io::Result<()> {
        if self.events.is_none() {
            self.events =
                Some(open_sidecar(&self.events_path).map_err(|e| with_path(&self.events_path, e))?);
        }
        Ok(())
    }

    fn append(file: &File, torn: &mut bool, path: &Path, line: &[u8]) -> io::Result<()> {
        if *torn {
            write_whole(file, b"\n").map_err(|(_, e)| with_path(path, e))?;
            *torn = false;
        }
        match write_whole(file, line) {
            Ok(()) => Ok(()),
            Err((written, e)) => {
                *torn = written > 0;
                Err(with_path(path, e))
            }
        }
    }
}

/// `io::Error` whose text starts with the path, so every report says which file.
pub(crate) fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl Backend for FileBackend {
    fn describe(&self) -> String {
        format!("log file {}", self.path.display())
    }

    fn reconnect(&mut self) -> io::Result<()> {
        // Try both: events may still be storable when the log is not.
        let log = self.open_log();
        let events = self.open_events();
        log.and(events)
    }

    fn send_message(&mut self, line: &[u8]) -> io::Result<()> {
        self.open_log()?;
        let Some(file) = self.file.as_ref() else {
            return Err(io::Error::other("the log is not open"));
        };
        Self::append(file, &mut self.torn, &self.path, line)
    }

    fn send_event(&mut self, event: &EventRecord) -> io::Result<()> {
        self.open_events()?;
        let mut line = event.to_json().into_bytes();
        line.push(b'\n');
        let Some(file) = self.events.as_ref() else {
            return Err(io::Error::other("the sidecar is not open"));
        };
        Self::append(file, &mut self.events_torn, &self.events_path, &line)
    }
}
