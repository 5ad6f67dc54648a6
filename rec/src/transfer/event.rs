//! A small poll() registry: each fd is registered once with the typed event
//! it produces; handlers switch interest on and off through its handle. The
//! pollfd array is built once and reused, so a loop turn costs one poll().

use std::io;
use std::os::fd::RawFd;
use tlog_rs_sys::cvt;

/// What an fd is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Readable,
    Writable,
}

/// Index of a registration; only the registry that issued it knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(usize);

pub struct Registry<E> {
    /// `fd` is negative while a registration is paused (poll skips it).
    fds: Vec<libc::pollfd>,
    raw: Vec<RawFd>,
    events: Vec<E>,
    ready: Vec<E>,
}

impl<E: Copy> Registry<E> {
    pub fn new() -> Self {
        Registry {
            fds: Vec::with_capacity(5),
            raw: Vec::with_capacity(5),
            events: Vec::with_capacity(5),
            ready: Vec::with_capacity(5),
        }
    }

    /// Watch `fd` (active at once); `event` is reported when it is ready.
    /// Handling order within one poll() is registration order.
    pub fn register(&mut self, fd: RawFd, interest: Interest, event: E) -> Handle {
        self.fds.push(libc::pollfd {
            fd,
            events: match interest {
                Interest::Readable => libc::POLLIN,
                Interest::Writable => libc::POLLOUT,
            },
            revents: 0,
        });
        self.raw.push(fd);
        self.events.push(event);
        Handle(self.fds.len() - 1)
    }

    /// Poll the fd of `h` or not.
    pub fn set_active(&mut self, h: Handle, active: bool) {
        let fd = self.raw[h.0];
        self.fds[h.0].fd = if active { fd } else { -1 };
    }

    /// Wait up to `timeout_ms` (-1: forever). Returns the ready events in
    /// registration order; empty on timeout or EINTR.
    pub fn poll(&mut self, timeout_ms: i32) -> io::Result<&[E]> {
        self.ready.clear();
        // SAFETY: fds is a valid array of pollfd of the given length.
        let rc = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        match cvt(rc) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(&self.ready),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        for (p, ev) in self.fds.iter().zip(&self.events) {
            // A paused entry has fd -1 and revents 0.
            if p.revents != 0 {
                self.ready.push(*ev);
            }
        }
        Ok(&self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn reports_ready_active_registrations_in_order() {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        let mut r = Registry::new();
        let hb = r.register(b.as_raw_fd(), Interest::Readable, 'b');
        r.register(d.as_raw_fd(), Interest::Readable, 'd');
        r.register(c.as_raw_fd(), Interest::Writable, 'w');
        assert_eq!(r.poll(0).unwrap(), &['w']);
        use std::io::Write;
        (&a).write_all(b"x").unwrap();
        (&c).write_all(b"y").unwrap();
        assert_eq!(r.poll(0).unwrap(), &['b', 'd', 'w']);
        r.set_active(hb, false);
        assert_eq!(r.poll(0).unwrap(), &['d', 'w']);
        r.set_active(hb, true);
        assert_eq!(r.poll(-1).unwrap(), &['b', 'd', 'w']);
    }
}
