//! tlog's rate limiter: a leaky bucket on CLOCK_MONOTONIC.
//!
//! The bucket holds at most `rate + burst` bytes and drains at `rate` bytes per
//! second. Each message adds its full length (the whole JSON line). A message
//! that does not fit is passed anyway (`pass`), waited for (`delay`: the
//! recorder blocks until enough has drained, which stalls terminal I/O like
//! tlog), or discarded (`drop`: the caller still consumes its id, so gaps show).

use std::time::Duration;

use super::LimitAction;

/// Time source, injectable for tests.
pub trait Clock {
    /// Monotonic time since an arbitrary origin.
    fn now(&self) -> Duration;
    fn sleep(&self, d: Duration);
}

/// CLOCK_MONOTONIC, as tlog uses.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Write,
    Drop,
}

const NANOS: u128 = 1_000_000_000;

pub struct RateLimiter<C: Clock> {
    clock: C,
    rate: u64,
    limit: u64,
    action: LimitAction,
    /// Bytes in the bucket, times 10^9 (byte-nanoseconds), so draining at
    /// `rate` bytes/s is exact integer arithmetic.
    level: u128,
    last: Duration,
}

impl<C: Clock> RateLimiter<C> {
    pub fn new(clock: C, rate: u64, burst: u64, action: LimitAction) -> Self {
        let last = clock.now();
        RateLimiter {
            clock,
            rate,
            limit: rate.saturating_add(burst),
            action,
            level: 0,
            last,
        }
    }

    fn drain(&mut self) {
        let now = self.clock.now();
        let elapsed = now.saturating_sub(self.last).as_nanos();
        self.last = now;
        self.level = self.level.saturating_sub(elapsed * self.rate as u128);
    }

    /// Account for a message of `len` bytes; with `delay` this sleeps until
    /// it fits. A message bigger than the whole bucket fits once the bucket is
    /// empty (delay) and never (drop).
    pub fn admit(&mut self, len: usize) -> Admit {
        if self.action == LimitAction::Pass {
            return Admit::Write;
        }
        let want = len as u128 * NANOS;
        let cap = self.limit as u128 * NANOS;
        self.drain();
        if self.level + want <= cap {
            self.level += want;
            return Admit::Write;
        }
        if self.action == LimitAction::Drop || self.rate == 0 {
            // rate 0 never drains: waiting would block forever.
            return Admit::Drop;
        }
        // Wait until level + want <= cap, or until empty for an oversized message.
        let target = cap.saturating_sub(want);
        let excess = self.level - target;
        let wait_ns = excess.div_ceil(self.rate as u128);
        self.clock.sleep(Duration::from_nanos(wait_ns as u64));
        self.drain();
        self.level += want;
        Admit::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Fake clock: `sleep` advances time and records the total slept.
    #[derive(Clone, Default)]
    struct FakeClock {
        t: Rc<Cell<Duration>>,
        slept: Rc<Cell<Duration>>,
    }
    impl FakeClock {
        fn advance(&self, d: Duration) {
            self.t.set(self.t.get() + d);
        }
    }
    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            self.t.get()
        }
        fn sleep(&self, d: Duration) {
            self.advance(d);
            self.slept.set(self.slept.get() + d);
        }
    }

    #[test]
    fn drop_admits_rate_plus_burst_then_drops_then_refills() {
        let c = FakeClock::default();
        let mut rl = RateLimiter::new(c.clone(), 100, 200, LimitAction::Drop);
        // bucket limit 300: three 100-byte messages fit, the fourth does not
        for _ in 0..3 {
            assert_eq!(rl.admit(100), Admit::Write);
        }
        assert_eq!(rl.admit(100), Admit::Drop);
        assert_eq!(rl.admit(1), Admit::Drop, "bucket exactly full");
        // 0.5 s drains 50 bytes: a 50-byte message fits, a 51-byte one would not
        c.advance(Duration::from_millis(500));
        assert_eq!(rl.admit(51), Admit::Drop);
        assert_eq!(rl.admit(50), Admit::Write);
        // after a long idle time the bucket is empty again (not negative)
        c.advance(Duration::from_secs(3600));
        for _ in 0..3 {
            assert_eq!(rl.admit(100), Admit::Write);
        }
        assert_eq!(rl.admit(100), Admit::Drop);
        assert_eq!(c.slept.get(), Duration::ZERO, "drop never sleeps");
    }

    #[test]
    fn delay_sleeps_exactly_until_the_message_fits() {
        let c = FakeClock::default();
        let mut rl = RateLimiter::new(c.clone(), 1000, 0, LimitAction::Delay);
        assert_eq!(rl.admit(1000), Admit::Write);
        assert_eq!(c.slept.get(), Duration::ZERO);
        // full: 250 bytes need 0.25 s of draining at 1000 B/s
        assert_eq!(rl.admit(250), Admit::Write);
        assert_eq!(c.slept.get(), Duration::from_millis(250));
        // oversized message (> rate+burst) waits for an empty bucket, then passes
        assert_eq!(rl.admit(5000), Admit::Write);
        assert_eq!(c.slept.get(), Duration::from_millis(1250));
    }

    #[test]
    fn pass_never_limits_and_drop_rejects_oversized() {
        let c = FakeClock::default();
        let mut rl = RateLimiter::new(c.clone(), 1, 1, LimitAction::Pass);
        for _ in 0..100 {
            assert_eq!(rl.admit(1 << 20), Admit::Write);
        }
        let mut rl = RateLimiter::new(c.clone(), 10, 10, LimitAction::Drop);
        c.advance(Duration::from_secs(100));
        assert_eq!(rl.admit(21), Admit::Drop);
        assert_eq!(rl.admit(20), Admit::Write);
    }

    #[test]
    fn zero_rate_delay_drops_instead_of_blocking_forever() {
        let c = FakeClock::default();
        let mut rl = RateLimiter::new(c.clone(), 0, 10, LimitAction::Delay);
        assert_eq!(rl.admit(10), Admit::Write);
        assert_eq!(rl.admit(1), Admit::Drop);
        assert_eq!(c.slept.get(), Duration::ZERO);
    }

    #[test]
    fn real_clock_is_monotonic() {
        let c = MonotonicClock;
        let a = c.now();
        c.sleep(Duration::from_millis(2));
        assert!(c.now() >= a + Duration::from_millis(2));
    }
}
