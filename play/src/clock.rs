//! Playback clock: maps wall time to recording time (ms) under pause, speed
//! changes and seeks. Both players use it, so timing is the same everywhere.

use std::time::{Duration, Instant};

pub const MIN_SPEED: f64 = 1.0 / 16.0;
pub const MAX_SPEED: f64 = 16.0;

#[derive(Debug, Clone)]
pub struct Clock {
    /// Recording position (ms) at `anchor`.
    pos: f64,
    anchor: Instant,
    playing: bool,
    speed: f64,
}

impl Clock {
    pub fn new(now: Instant, speed: f64, paused: bool) -> Self {
        Clock {
            pos: 0.0,
            anchor: now,
            playing: !paused,
            speed,
        }
    }

    pub fn position(&self, now: Instant) -> f64 {
        if self.playing {
            self.pos
                + now.saturating_duration_since(self.anchor).as_secs_f64() * 1000.0 * self.speed
        } else {
            self.pos
        }
    }

    fn rebase(&mut self, now: Instant) {
        self.pos = self.position(now);
        self.anchor = now;
    }

    pub fn set_position(&mut self, now: Instant, ms: f64) {
        self.pos = ms;
        self.anchor = now;
    }

    pub fn is_paused(&self) -> bool {
        !self.playing
    }

    pub fn toggle_pause(&mut self, now: Instant) {
        self.rebase(now);
        self.playing = !self.playing;
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn set_speed(&mut self, now: Instant, speed: f64) {
        self.rebase(now);
        self.speed = speed;
    }

    /// tlog-play's `}`: double, up to 16x.
    pub fn faster(&mut self, now: Instant) {
        if self.speed < MAX_SPEED {
            self.set_speed(now, (self.speed * 2.0).min(MAX_SPEED));
        }
    }

    /// tlog-play's `{`: halve, down to 1/16x.
    pub fn slower(&mut self, now: Instant) {
        if self.speed > MIN_SPEED {
            self.set_speed(now, (self.speed / 2.0).max(MIN_SPEED));
        }
    }

    /// How long until the position reaches `ts`; None while paused.
    pub fn wait_for(&self, now: Instant, ts: u64) -> Option<Duration> {
        let pos = self.position(now);
        if ts as f64 <= pos {
            return Some(Duration::ZERO);
        }
        if !self.playing {
            return None;
        }
        let ms = (ts as f64 - pos) / self.speed;
        Some(Duration::from_secs_f64(ms / 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_pause_and_seek() {
        let t0 = Instant::now();
        let mut c = Clock::new(t0, 1.0, false);
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(c.position(t1).round(), 1000.0);
        c.faster(t1);
        let t2 = t1 + Duration::from_millis(500);
        assert_eq!(c.position(t2).round(), 2000.0);
        c.toggle_pause(t2);
        assert_eq!(c.position(t2 + Duration::from_secs(5)).round(), 2000.0);
        assert_eq!(c.wait_for(t2, 3000), None);
        assert_eq!(c.wait_for(t2, 1500), Some(Duration::ZERO));
        c.toggle_pause(t2);
        assert_eq!(c.wait_for(t2, 3000).unwrap().as_millis(), 500);
        c.set_position(t2, 100.0);
        assert_eq!(c.position(t2).round(), 100.0);
        for _ in 0..10 {
            c.faster(t2);
        }
        assert_eq!(c.speed(), 16.0);
        for _ in 0..20 {
            c.slower(t2);
        }
        assert_eq!(c.speed(), 1.0 / 16.0);
    }
}
