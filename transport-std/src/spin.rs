//! Adaptive spinning before a blocking wait, for lockstep latency.
//!
//! A thread that blocks in `read` (or in `epoll_wait`) is put to sleep, and when the peer's
//! bytes arrive the kernel has to wake it: on an idle CPU of a virtual machine that is a
//! halted virtual CPU to restart, tens of microseconds per hand-off, often more than the whole
//! exchange costs. A [`Spinner`] first tries without blocking for a short time, so a peer
//! answering from another CPU is met by a thread that is still running.
//!
//! It spins only where that can pay and takes nothing from other work:
//! - never on a machine with one CPU, nor while a thread waits for a CPU: the machine's
//!   runnable threads (`/proc/loadavg`, read at most every 10 ms by the whole process) must
//!   not outnumber its CPUs;
//! - only while spinning pays: a spin that ends empty-handed (the peer is not answering from
//!   another CPU, or it is thinking) makes the next 1, 2, 4 … 64 waits block at once, until
//!   bytes come during a spin (bytes already there at its first try prove nothing). A
//!   connection that waits long between messages thus spins once in 64 waits at most;
//! - a thread kept off its CPU during a spin (another thread needed the CPU: the peer,
//!   perhaps, which could not answer while we spun) stops the spin at once, and what came
//!   meanwhile counts as found by blocking, not by spinning: the spin backs off as an empty
//!   one (the thread's CPU clock against the wall clock tells);
//! - a thread held to one CPU (its affinity, read again every second) spins too, as its peer
//!   may well run on another CPU, but there a spin that finds nothing backs off up to 1,024
//!   waits: if the peer shares that CPU, it could not answer while we spun, and the rare
//!   spins that remain cost it next to nothing.
//!
//! Linux only (elsewhere every wait blocks at once, as without it).

use std::io::{self, IoSliceMut, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The state of spinning for one thread or connection; see the [module](self).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spinner {
    /// How long one spin lasts; zero: never spin.
    limit: Duration,
    /// Waits left that block at once, after spins that found nothing.
    skip: u32,
    /// What `skip` becomes after the next spin that finds nothing.
    backoff: u32,
    cpus: Cpus,
}

/// Whether, and how, a wait may spin now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Room {
    /// Not at all: a spin would take a CPU that something else waits for.
    None,
    /// On the one CPU this thread may use, which the peer may need: back off far.
    OneCpu,
    /// This thread may run on several CPUs.
    Cpus,
}

impl Room {
    /// The most waits that block at once after spins that found nothing.
    fn max_backoff(self) -> u32 {
        match self {
            Room::OneCpu => 1024,
            Room::None | Room::Cpus => 64,
        }
    }
}

/// A gap this long between two tries of a spin means the thread was kept off its CPU.
const PREEMPTED: Duration = Duration::from_micros(10);

impl Spinner {
    /// Spins for at most `limit` before each blocking wait (zero: never).
    pub(crate) fn new(limit: Duration) -> Self {
        Self {
            limit,
            skip: 0,
            backoff: 1,
            cpus: Cpus::default(),
        }
    }

    /// Calls `attempt` (which must not block) until it gives something or the limit passes,
    /// if spinning may pay now; `None`: block instead.
    pub(crate) fn spin<T>(&mut self, attempt: impl FnMut() -> Option<T>) -> Option<T> {
        self.spin_when(Cpus::room, attempt)
    }

    /// [`Spinner::spin`] with the machine's state given: `room` says whether and how a spin
    /// may take a CPU at the time it is given (asked only when this wait may spin at all).
    /// One clock read serves the machine's state and the spin's start.
    fn spin_when<T>(
        &mut self,
        room: impl FnOnce(&mut Cpus, Instant) -> Room,
        mut attempt: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        if self.limit.is_zero() {
            return None;
        }
        let start = Instant::now();
        let room = room(&mut self.cpus, start);
        if room == Room::None {
            return None;
        }
        if let Some(got) = attempt() {
            // It was there already: that tells nothing of spinning (and costs no more clock).
            return Some(got);
        }
        // The thread's CPU clock (a system call) is read only for a spin that goes on.
        let cpu_start = linux::thread_cpu_time();
        let mut last = start;
        let (got, end) = loop {
            let now = Instant::now();
            if now - start >= self.limit || now - last >= PREEMPTED {
                break (None, now);
            }
            last = now;
            std::hint::spin_loop();
            if let Some(got) = attempt() {
                break (Some(got), Instant::now());
            }
        };
        // Time off the CPU during the spin (the thread CPU clock is read only when the spin
        // lasted long enough to hold some): what came, came from a peer that needed our CPU.
        let wall = end - start;
        let off_cpu = wall >= PREEMPTED
            && wall.saturating_sub(linux::thread_cpu_time().saturating_sub(cpu_start)) >= PREEMPTED;
        if got.is_some() && !off_cpu {
            self.backoff = 1;
        } else {
            self.skip = self.backoff;
            self.backoff = (self.backoff * 2).min(room.max_backoff());
        }
        got
    }

    /// Reads from `socket` into `bufs` as a blocking `readv` does (the socket's read timeout
    /// applies), after spinning for what arrives within the limit when that may pay.
    pub(crate) fn read(
        &mut self,
        socket: &TcpStream,
        bufs: &mut [IoSliceMut<'_>],
    ) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Some(read) = self.spin(|| match linux::read_now(socket, bufs) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                None
            }
            read => Some(read),
        }) {
            return read;
        }
        let mut socket = socket;
        match bufs {
            [buf] => socket.read(buf),
            _ => socket.read_vectored(bufs),
        }
    }
}

/// Whether this thread's CPU affinity allows more than one CPU, as last read.
#[derive(Clone, Copy, Debug, Default)]
struct Cpus {
    read: Option<(bool, Instant)>,
}

impl Cpus {
    /// How often the thread's CPU affinity is read again.
    const EVERY: Duration = Duration::from_secs(1);

    /// Whether and how a spin may take a CPU at `now`: none while a thread waits for one or
    /// the machine has one only, else as this thread's affinity allows.
    fn room(&mut self, now: Instant) -> Room {
        if linux::crowded(now) {
            return Room::None;
        }
        let several = match self.read {
            Some((several, at)) if now.saturating_duration_since(at) < Self::EVERY => several,
            _ => {
                let several = linux::several_cpus();
                self.read = Some((several, now));
                several
            }
        };
        if several {
            Room::Cpus
        } else {
            Room::OneCpu
        }
    }
}

/// A blocking socket whose reads spin first ([`Spinner::read`]); writes go straight to it.
pub(crate) struct Spinning<'a> {
    pub(crate) socket: &'a TcpStream,
    pub(crate) spinner: &'a mut Spinner,
}

impl Read for Spinning<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_vectored(&mut [IoSliceMut::new(buf)])
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.spinner.read(self.socket, bufs)
    }
}

impl Write for Spinning<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut socket = self.socket;
        socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvFlags};
    use std::io::{self, IoSliceMut};
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    /// A `readv` that does not block (`MSG_DONTWAIT`), whatever the socket's mode.
    pub(super) fn read_now(socket: &TcpStream, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let mut control = RecvAncillaryBuffer::default();
        recvmsg(socket, bufs, &mut control, RecvFlags::DONTWAIT)
            .map(|msg| msg.bytes)
            .map_err(io::Error::from)
    }

    /// The CPU time this thread has used.
    pub(super) fn thread_cpu_time() -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_nsec).unwrap_or(0),
        )
    }

    /// This thread may run on more than one CPU.
    pub(super) fn several_cpus() -> bool {
        rustix::thread::sched_getaffinity(None).is_ok_and(|set| set.count() > 1)
    }

    /// How often the process reads the machine's runnable threads again, in milliseconds.
    const CROWD_EVERY_MS: u64 = 10;

    /// The machine has one CPU, or more threads are runnable than it has CPUs (some wait for
    /// one), as read at most [`CROWD_EVERY_MS`] before `now` by any thread of the process.
    pub(super) fn crowded(now: Instant) -> bool {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        static READ_AT: AtomicU64 = AtomicU64::new(0);
        static CROWDED: AtomicBool = AtomicBool::new(false);
        let since = now.saturating_duration_since(*EPOCH.get_or_init(|| now));
        let now = u64::try_from(since.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(CROWD_EVERY_MS);
        let last = READ_AT.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= CROWD_EVERY_MS
            && READ_AT
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let runnable = std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|text| runnable(&text));
            // Unreadable: assume the worst, and do not spin.
            let cpus = online_cpus();
            let crowded = cpus < 2 || runnable.is_none_or(|n| n > cpus);
            CROWDED.store(crowded, Ordering::Relaxed);
            return crowded;
        }
        CROWDED.load(Ordering::Relaxed)
    }

    /// The runnable threads in a `/proc/loadavg` line (`0.10 0.05 0.01 2/345 6789`), this
    /// one included.
    pub(super) fn runnable(loadavg: &str) -> Option<usize> {
        let field = loadavg.split_whitespace().nth(3)?;
        field.split('/').next()?.parse().ok()
    }

    /// The machine's CPUs online (whatever this thread's affinity), read once.
    fn online_cpus() -> usize {
        static ONLINE: OnceLock<usize> = OnceLock::new();
        *ONLINE.get_or_init(|| {
            std::fs::read_to_string("/sys/devices/system/cpu/online")
                .ok()
                .and_then(|text| count_cpus(text.trim()))
                .unwrap_or(1)
        })
    }

    /// The CPUs in a kernel CPU list such as `0-3,6,8-9`.
    pub(super) fn count_cpus(list: &str) -> Option<usize> {
        list.split(',').try_fold(0, |n, part| {
            let count = match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                    b.checked_sub(a)? + 1
                }
                None => part.parse::<usize>().map(|_| 1).ok()?,
            };
            Some(n + count)
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod linux {
    use std::time::Duration;

    pub(super) fn thread_cpu_time() -> Duration {
        Duration::ZERO
    }

    pub(super) fn several_cpus() -> bool {
        false
    }

    pub(super) fn crowded(_now: std::time::Instant) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (b, _) = listener.accept().expect("accept");
        (a, b)
    }

    #[test]
    fn bytes_already_there_are_read_and_the_end_is_seen() {
        let (mut a, b) = pair();
        a.write_all(b"hello").expect("write");
        let mut spinner = Spinner::new(Duration::from_secs(5));
        let mut buf = [0u8; 8];
        let n = spinner
            .read(&b, &mut [IoSliceMut::new(&mut buf)])
            .expect("read");
        assert_eq!(&buf[..n], b"hello");
        drop(a);
        let n = spinner
            .read(&b, &mut [IoSliceMut::new(&mut buf)])
            .expect("end");
        assert_eq!(n, 0, "the peer's close");
    }

    #[test]
    fn nothing_there_blocks_until_the_read_timeout() {
        let (_a, b) = pair();
        b.set_read_timeout(Some(Duration::from_millis(1)))
            .expect("timeout");
        let mut spinner = Spinner::new(Duration::from_micros(100));
        let mut buf = [0u8; 8];
        let kind = spinner
            .read(&b, &mut [IoSliceMut::new(&mut buf)])
            .expect_err("nothing was sent")
            .kind();
        assert!(
            matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
            "{kind:?}"
        );
    }

    #[test]
    fn spins_that_find_nothing_back_off_and_one_that_finds_something_ends_it() {
        let mut spinner = Spinner::new(Duration::from_micros(100));
        let mut skips = Vec::new();
        for _ in 0..8 {
            assert_eq!(spinner.spin_when(|_, _| Room::Cpus, || None::<()>), None);
            skips.push(spinner.skip);
        }
        // Spin (nothing: skip 1), skip, spin (skip 2), skip, skip, spin (skip 4), …
        assert_eq!(skips, [1, 0, 2, 1, 0, 4, 3, 2]);
        let mut tries = 0;
        for _ in 0..2 {
            assert_eq!(spinner.spin_when(|_, _| Room::Cpus, || None::<()>), None);
        }
        assert_eq!(spinner.skip, 0);
        let there = spinner.spin_when(|_, _| Room::Cpus, || Some("there already"));
        assert_eq!(there, Some("there already"));
        assert_eq!((spinner.skip, spinner.backoff), (0, 8), "proves nothing");
        let got = spinner.spin_when(
            |_, _| Room::Cpus,
            || {
                tries += 1;
                (tries == 3).then_some("bytes")
            },
        );
        assert_eq!((got, tries), (Some("bytes"), 3), "tried until it came");
        assert_eq!((spinner.skip, spinner.backoff), (0, 1), "backoff over");
    }

    #[test]
    fn no_spin_when_it_would_take_a_cpu_or_is_off() {
        let mut tries = 0;
        let mut spinner = Spinner::new(Duration::from_millis(50));
        assert_eq!(
            spinner.spin_when(
                |_, _| Room::None,
                || {
                    tries += 1;
                    Some(())
                }
            ),
            None
        );
        let mut off = Spinner::new(Duration::ZERO);
        assert_eq!(
            off.spin(|| {
                tries += 1;
                Some(())
            }),
            None
        );
        assert_eq!(tries, 0, "never tried");
        assert_eq!((spinner.skip, off.skip), (0, 0), "no spin, no backoff");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_machine_state_is_read_from_the_kernel_formats() {
        assert_eq!(linux::runnable("0.10 0.05 0.01 2/345 6789\n"), Some(2));
        assert_eq!(linux::runnable("garbage"), None);
        assert_eq!(linux::count_cpus("0-3,6,8-9"), Some(7));
        assert_eq!(linux::count_cpus("0"), Some(1));
        assert_eq!(linux::count_cpus("3-1"), None);
        assert_eq!(linux::count_cpus(""), None);
    }

    #[test]
    fn time_off_the_cpu_during_a_spin_counts_as_an_empty_spin() {
        // The thread loses its CPU at the first try, which finds nothing: no second try. Or
        // at the second, while the peer runs on our CPU and answers: the bytes, but no credit.
        for (answer_at, expected) in [(None, (None, 1)), (Some(2), (Some("bytes"), 2))] {
            let mut spinner = Spinner::new(Duration::from_secs(5));
            let mut tries = 0;
            let got = spinner.spin_when(
                |_, _| Room::Cpus,
                || {
                    tries += 1;
                    if tries == answer_at.unwrap_or(1) {
                        std::thread::sleep(PREEMPTED * 2);
                    }
                    (Some(tries) == answer_at).then_some("bytes")
                },
            );
            assert_eq!((got, tries), expected);
            assert_eq!((spinner.skip, spinner.backoff), (1, 2), "backs off");
        }
    }

    #[test]
    fn on_one_cpu_empty_spins_back_off_up_to_1024_waits() {
        let mut spinner = Spinner::new(Duration::from_micros(1));
        let mut spins = 0;
        // Bounded: 12 spins and the waits they skip.
        for _ in 0..2100 {
            let mut tried = false;
            spinner.spin_when(
                |_, _| Room::OneCpu,
                || {
                    tried = true;
                    None::<()>
                },
            );
            spins += usize::from(tried);
        }
        // Spins at waits 0, 2, 5, 10 … 1,033 (each after twice as many skipped waits as the
        // last, up to 1,024), then at 2,058.
        assert_eq!(spins, 12);
        assert_eq!(spinner.backoff, 1024);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_held_to_one_cpu_has_one_cpu_of_room() {
        use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
        let allowed = sched_getaffinity(None).expect("affinity");
        let cpu = (0..CpuSet::MAX_CPU)
            .find(|&i| allowed.is_set(i))
            .expect("a CPU");
        let mut one = CpuSet::new();
        one.set(cpu);
        // This test's thread only.
        sched_setaffinity(None, &one).expect("set affinity");
        assert!(!linux::several_cpus());
        // `None` when the machine is busy (other tests run beside this one).
        let room = Cpus::default().room(Instant::now());
        assert!(matches!(room, Room::OneCpu | Room::None), "{room:?}");
    }
}
