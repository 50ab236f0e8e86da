//! The one thread pool that all of seqcore's parallel kernels run on.
//!
//! * Its size comes from `SEQCORE_NUM_THREADS` (default: all cores) and can
//!   be changed at run time with [`set_num_threads`]; a new size builds a new
//!   pool, and calls already running finish on the old one.
//! * A forked child process does not inherit the pool's threads, and a rayon
//!   pool used there would wait forever for them. We remember the pid that
//!   built the pool, and in any other process every kernel runs on the
//!   calling thread. This needs no `pthread_atfork` hook and takes no lock in
//!   the child (a lock held by another thread at fork time would never be
//!   released there).
//! * With one thread no pool exists at all: work runs on the calling thread.
//!   With `n`, the calling thread is one of the `n` workers: it and `n - 1`
//!   pool threads take tasks in turn, so a call starts at once even when the
//!   pool's threads are asleep.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Name of the environment variable read for the default pool size.
pub const THREADS_ENV_VAR: &str = "SEQCORE_NUM_THREADS";

/// Errors of the thread pool's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParallelError {
    #[error("the number of threads must be at least 1, got {0}")]
    ZeroThreads(usize),
    #[error("{THREADS_ENV_VAR} must be a whole number from 1 to {most}, got {0:?}", most = max_threads())]
    BadEnvironment(String),
    #[error("the number of threads must be at most {1}, got {0}")]
    TooManyThreads(usize, usize),
    #[error("could not start the thread pool: {0}")]
    Build(String),
}

/// 0 until the first pool size is chosen.
static THREADS: AtomicUsize = AtomicUsize::new(0);
/// The process that built `POOL`; 0 while none was built.
static OWNER_PID: AtomicU32 = AtomicU32::new(0);
static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);

/// The most threads a pool may have: each is started for real, so a slip
/// such as 10000000 fails at once instead of exhausting the machine.
pub fn max_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1024)
}

/// The pool size requested by `SEQCORE_NUM_THREADS`, or all cores when unset.
pub fn default_num_threads() -> Result<usize, ParallelError> {
    match std::env::var(THREADS_ENV_VAR) {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=max_threads()).contains(&n) => Ok(n),
            _ => Err(ParallelError::BadEnvironment(text)),
        },
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// The number of threads parallel kernels use (1 in a forked child).
///
/// An invalid `SEQCORE_NUM_THREADS` counts as unset here; call
/// [`default_num_threads`] to see the error.
pub fn num_threads() -> usize {
    if in_forked_child() {
        return 1;
    }
    match THREADS.load(Ordering::Acquire) {
        0 => default_num_threads()
            .unwrap_or_else(|_| std::thread::available_parallelism().map_or(1, |n| n.get())),
        n => n,
    }
}

/// Sets the number of threads used by every later parallel call.
pub fn set_num_threads(threads: usize) -> Result<(), ParallelError> {
    if threads == 0 {
        return Err(ParallelError::ZeroThreads(threads));
    }
    if threads > max_threads() {
        return Err(ParallelError::TooManyThreads(threads, max_threads()));
    }
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    *pool = None;
    THREADS.store(threads, Ordering::Release);
    OWNER_PID.store(0, Ordering::Release);
    Ok(())
}

fn in_forked_child() -> bool {
    let owner = OWNER_PID.load(Ordering::Acquire);
    owner != 0 && owner != std::process::id()
}

/// The pool to run on, or `None` to run on the calling thread.
fn current_pool() -> Option<Arc<ThreadPool>> {
    if in_forked_child() {
        return None;
    }
    let threads = num_threads();
    if threads <= 1 {
        return None;
    }
    let mut slot = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = slot.as_ref() {
        if pool.current_num_threads() == threads {
            return Some(Arc::clone(pool));
        }
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("seqcore-{i}"))
        .build()
        // A pool that cannot start (no threads left) degrades to serial work.
        .ok()
        .map(Arc::new)?;
    THREADS.store(threads, Ordering::Release);
    OWNER_PID.store(std::process::id(), Ordering::Release);
    *slot = Some(Arc::clone(&pool));
    Some(pool)
}

/// Calls `task(i)` for every `i` in `0..tasks`, in parallel on the pool.
///
/// Results must not depend on which thread runs which task: every kernel
/// gives bit-identical output for every thread count.
pub fn for_each_task<F>(tasks: usize, task: F)
where
    F: Fn(usize) + Send + Sync,
{
    match current_pool() {
        Some(pool) if tasks > 1 => run_claimed(&pool, tasks, &task),
        _ => (0..tasks).for_each(task),
    }
}

/// Runs `task(i)` for every `i` in `0..tasks` on the calling thread and
/// `threads - 1` of the pool's, each taking the next unclaimed task until
/// none is left.
///
/// The caller works from the first task on instead of waiting for the
/// pool (as `ThreadPool::install` would have it). With the caller only
/// waiting, a 2-thread batch of short texts after 15 ms of other work took
/// 13.6 ms against 8.1 back to back on the development VM (8.9-10.3 now).
/// Waking a pool thread takes only 25-45 us there, so most of the loss is
/// likely the idle core running slowly at first, while the caller's core
/// is already running.
fn run_claimed(pool: &ThreadPool, tasks: usize, task: &(impl Fn(usize) + Sync)) {
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= tasks {
            break;
        }
        task(i);
    };
    let work = &work;
    let helpers = pool.current_num_threads().min(tasks) - 1;
    pool.in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(move |_| work());
        }
        work();
    });
}

/// Computes `task(i)` for every `i` in `0..tasks` on the pool and returns
/// the results in task order (the same order for every thread count).
pub fn map_tasks<T, F>(tasks: usize, task: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Send + Sync,
{
    match current_pool() {
        Some(pool) if tasks > 1 => {
            let mut results: Vec<Option<T>> = (0..tasks).map(|_| None).collect();
            let slots = SharedOutput::new(results.as_mut_ptr(), tasks);
            // SAFETY: each task index is claimed once, so each slot has one
            // writer; `results` outlives the scope that runs the tasks.
            run_claimed(&pool, tasks, &|i| unsafe {
                slots.slice(i, 1)[0] = Some(task(i))
            });
            results
                .into_iter()
                .map(|r| r.expect("every task ran"))
                .collect()
        }
        _ => (0..tasks).map(task).collect(),
    }
}

/// A blocking receive of the next finished task, handed to the caller's
/// `wait` so it can block in its own way (e.g. with the GIL released).
pub type Receive<'a, T> = &'a (dyn Fn() -> Option<(usize, T)> + Sync);

/// Runs `task(i)` for every `i` in `0..tasks` while the calling thread
/// consumes the results as they finish: `consume(i, result)` runs on the
/// caller, in completion order (not task order). This lets a caller do
/// serial work on each result (e.g. building Python objects) while the
/// rest are computed.
///
/// The caller is one of the workers: with `n` threads, `n - 1` pool threads
/// take tasks in turn, and the caller takes one itself whenever no result
/// is waiting, so `n` threads share the tasks and the serial work (a caller
/// that only waited and consumed would be an extra thread competing for the
/// cores). The caller gets each result through `wait(receive)`, which must
/// call `receive()` and return what it gives: `receive` may compute a task,
/// so `wait` is where the caller steps aside (e.g. releases the GIL).
/// Without a pool, everything runs on the caller.
pub fn map_tasks_streaming<T, F, W, C>(tasks: usize, task: F, wait: W, mut consume: C)
where
    T: Send,
    F: Fn(usize) -> T + Send + Sync,
    W: Fn(Receive<'_, T>) -> Option<(usize, T)>,
    C: FnMut(usize, T),
{
    match current_pool() {
        Some(pool) if tasks > 1 => {
            let next = AtomicUsize::new(0);
            let claim = || Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&i| i < tasks);
            let (sender, receiver) = std::sync::mpsc::channel();
            let receiver = Mutex::new(receiver);
            let receive = || {
                let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
                if let Ok(done) = receiver.try_recv() {
                    return Some(done);
                }
                match claim() {
                    Some(i) => Some((i, task(i))),
                    // Ends when every worker has finished (or panicked,
                    // dropping its sender; the scope then re-raises it).
                    None => receiver.recv().ok(),
                }
            };
            let workers = pool.current_num_threads().min(tasks) - 1;
            pool.in_place_scope(|scope| {
                for _ in 0..workers {
                    let sender = sender.clone();
                    let (task, claim) = (&task, &claim);
                    scope.spawn(move |_| {
                        while let Some(i) = claim() {
                            // The receiver outlives the scope; a send cannot fail.
                            let _ = sender.send((i, task(i)));
                        }
                    });
                }
                drop(sender);
                while let Some((i, result)) = wait(&receive) {
                    consume(i, result);
                }
            });
        }
        _ => (0..tasks).for_each(|i| consume(i, task(i))),
    }
}

/// A raw pointer to an output buffer that several tasks write to at once,
/// each to its own disjoint set of elements.
///
/// Kernels over `(batch, time, dim)` give each task a block of columns, which
/// is not a contiguous sub-slice, so `chunks_mut` cannot split it safely.
pub(crate) struct SharedOutput<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: the pointer is only used through `slice`, whose callers guarantee
// that no two tasks touch the same element.
unsafe impl<T: Send> Send for SharedOutput<T> {}
unsafe impl<T: Send> Sync for SharedOutput<T> {}

impl<T> SharedOutput<T> {
    pub(crate) fn new(ptr: *mut T, len: usize) -> Self {
        Self { ptr, len }
    }

    /// A mutable sub-slice `[offset, offset + len)`.
    ///
    /// # Safety
    /// No other live slice may overlap this one; it must stay in bounds
    /// (checked in debug builds).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, offset: usize, len: usize) -> &mut [T] {
        debug_assert!(offset + len <= self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(offset), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_task_runs_once() {
        let seen = AtomicU64::new(0);
        for_each_task(64, |i| {
            seen.fetch_add(1 << i, Ordering::Relaxed);
        });
        assert_eq!(seen.load(Ordering::Relaxed), u64::MAX);
    }

    #[test]
    fn streaming_consumes_every_result_once_on_the_caller() {
        let caller = std::thread::current().id();
        for tasks in [0, 1, 2, 3, 100] {
            let mut got = vec![0; tasks];
            map_tasks_streaming(
                tasks,
                |i| i * i,
                |receive| receive(),
                |i, square| {
                    assert_eq!(std::thread::current().id(), caller);
                    assert_eq!(square, i * i);
                    got[i] += 1;
                },
            );
            assert!(got.iter().all(|&n| n == 1), "{tasks}: {got:?}");
        }
    }

    #[test]
    fn results_come_in_task_order_with_the_caller_working_too() {
        let caller = std::thread::current().id();
        let Some(pool) = ThreadPoolBuilder::new().num_threads(3).build().ok() else {
            return;
        };
        for tasks in [2, 3, 7, 100] {
            let on_caller = AtomicUsize::new(0);
            let runs: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            run_claimed(&pool, tasks, &|i| {
                runs[i].fetch_add(1, Ordering::Relaxed);
                if std::thread::current().id() == caller {
                    on_caller.fetch_add(1, Ordering::Relaxed);
                }
                // Long enough that the helpers cannot take every task
                // while the caller starts.
                std::thread::sleep(std::time::Duration::from_micros(200));
            });
            assert!(
                runs.iter().all(|r| r.load(Ordering::Relaxed) == 1),
                "{tasks} tasks"
            );
            if tasks >= 7 {
                assert!(on_caller.load(Ordering::Relaxed) >= 1, "{tasks} tasks");
            }
        }
        for tasks in [0, 1, 2, 5, 333] {
            assert_eq!(
                map_tasks(tasks, |i| 3 * i),
                (0..tasks).map(|i| 3 * i).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn zero_threads_and_too_many_are_refused() {
        assert_eq!(set_num_threads(0), Err(ParallelError::ZeroThreads(0)));
        let most = max_threads();
        assert!(most >= 1024);
        assert_eq!(
            set_num_threads(most + 1),
            Err(ParallelError::TooManyThreads(most + 1, most))
        );
    }
}
