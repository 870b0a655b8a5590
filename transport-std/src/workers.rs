//! The hook threads: a pool that grows while every thread is busy (hooks may block in
//! `transmit`/`receive`), up to a maximum.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// One hook call: sent to a hook thread as it is (no box per call), and run with what every
/// thread keeps (its context).
pub(crate) trait Job: Send + 'static {
    type Context: Clone + Send + 'static;
    fn run(self, context: &Self::Context);
}

pub(crate) struct Workers<J: Job> {
    /// Dropping it ends every thread once it is done with its job; nobody waits for them (a
    /// hook stuck past the shutdown grace period must not hold the shutdown).
    jobs: mpsc::Sender<J>,
    queue: Arc<Mutex<mpsc::Receiver<J>>>,
    context: J::Context,
    /// Jobs submitted and not finished: when they outnumber the threads, one more starts.
    outstanding: Arc<AtomicUsize>,
    threads: usize,
    max: usize,
}

impl<J: Job> Workers<J> {
    /// A pool of `initial` threads, growing up to `max`, each keeping a clone of `context`.
    pub(crate) fn new(initial: usize, max: usize, context: J::Context) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let mut workers = Self {
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            context,
            outstanding: Arc::new(AtomicUsize::new(0)),
            threads: 0,
            max: max.max(initial),
        };
        for _ in 0..initial {
            workers.spawn()?;
        }
        Ok(workers)
    }

    /// Runs `job` on a hook thread, starting one more if all are taken and the maximum allows.
    pub(crate) fn submit(&mut self, job: J) {
        let outstanding = self.outstanding.fetch_add(1, Ordering::AcqRel) + 1;
        // The receiver lives as long as `self`: sending cannot fail.
        let _ = self.jobs.send(job);
        if outstanding > self.threads && self.threads < self.max {
            // Without a new thread the job still runs once a busy one is free.
            let _ = self.spawn();
        }
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let queue = self.queue.clone();
        let outstanding = self.outstanding.clone();
        let context = self.context.clone();
        let thread = std::thread::Builder::new()
            .name("tinyproto-hook".into())
            .spawn(move || loop {
                let job = queue.lock().map(|q| q.recv());
                match job {
                    Ok(Ok(job)) => job.run(&context),
                    _ => return,
                }
                outstanding.fetch_sub(1, Ordering::AcqRel);
            });
        match thread {
            Ok(_) => {
                self.threads += 1;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    /// Waits at the barrier.
    struct Meet(Arc<Barrier>);
    impl Job for Meet {
        type Context = ();
        fn run(self, (): &()) {
            self.0.wait();
        }
    }

    #[test]
    fn grows_while_all_threads_are_blocked() {
        let mut workers = Workers::new(1, 4, ()).unwrap();
        let barrier = Arc::new(Barrier::new(4));
        for _ in 0..3 {
            workers.submit(Meet(barrier.clone()));
        }
        // Three jobs wait for each other and for us: only a pool that grew lets them meet.
        barrier.wait();
        assert!(workers.threads >= 3);
    }
}
