//! Independent jobs side by side, each on a rayon pool of its own (a *lane*).
//!
//! A model's step is a chain of small operations. Spread over every thread, each operation pays
//! for the workers' hand-offs and waits, and much of a pass (burn's element-wise ops, pooling,
//! the host-side scoring) runs on one thread while the others idle: on 2 cores a UNet on 64²
//! slices runs only 1.2–1.6x faster on two threads than on one. Jobs that share nothing mutable
//! (batches of a cell, models to train, models to probe) therefore run side by side, each on
//! its own lane of `threads / lanes` threads, so both cores stay busy without hand-offs.
//!
//! Invariants:
//! - A job computes exactly what it computes alone: Mira's kernels give the same bits whatever
//!   the thread count (the goldens are checked with 1, 2 and 3 threads), and a job draws its
//!   randomness from its own seed.
//! - Results are handed on in job order, on the calling thread (progress callbacks need not be
//!   `Send`); after the first failure no new job starts, and every job before the failing one
//!   is handed on first.
//! - Lanes do not nest: a job that asks for lanes runs its own jobs one after another on its
//!   lane.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use rayon::ThreadPool;

use crate::Result;

/// How many jobs run side by side: `MIRA_BATCH_JOBS` when set (1 turns lanes off), else 2 when
/// the pool has at least two threads. Two are enough to keep 2 cores busy; more multiply the
/// memory of a job's working set (a batch's activations, a model in training).
pub(crate) fn lane_count() -> usize {
    let threads = rayon::current_num_threads();
    match std::env::var("MIRA_BATCH_JOBS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(n) => n.max(1),
        None => threads.clamp(1, 2),
    }
}

thread_local! {
    /// Whether this thread runs a lane's job (lanes do not nest).
    static IN_LANE: Cell<bool> = const { Cell::new(false) };
}

/// Lane pools built so far, by (lanes, threads).
type PoolCache = Mutex<HashMap<(usize, usize), Arc<Vec<ThreadPool>>>>;

/// The lanes of `lanes` jobs over `threads` threads: threads shared out as evenly as they go,
/// at least one each. Built once per shape and kept for the process.
fn pools(lanes: usize, threads: usize) -> Option<Arc<Vec<ThreadPool>>> {
    static POOLS: OnceLock<PoolCache> = OnceLock::new();
    let map = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = map.get(&(lanes, threads)) {
        return Some(p.clone());
    }
    let built: Option<Vec<ThreadPool>> = (0..lanes)
        .map(|k| {
            let n = (threads / lanes + usize::from(k < threads % lanes)).max(1);
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(move |t| format!("mira-lane{k}-{t}"))
                // A lane runs whole trainings and attacks: a main thread's stack.
                .stack_size(8 << 20)
                .build()
                .ok()
        })
        .collect();
    let built = Arc::new(built?);
    map.insert((lanes, threads), built.clone());
    Some(built)
}

/// Runs `work` on jobs `0..n` side by side on [`lane_count`] lanes (each lane takes the next
/// job when it is free) and hands each result to `done` in job order. With one lane, one job,
/// or inside a lane, the jobs run one after another on the calling thread's pool.
///
/// # Errors
/// The first error of `work` or `done` in job order; `done` has then seen every job before it.
pub(crate) fn side_by_side<T: Send>(
    n: usize,
    work: impl Fn(usize) -> Result<T> + Sync,
    done: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    on_lanes(
        lane_count(),
        n,
        |i, _: &dyn Fn(())| work(i),
        |_, ()| {},
        done,
    )
}

/// [`side_by_side`] for jobs that report as they go: `work` gets a sender of its messages,
/// which reach `message` on the calling thread (with the job's number) as they come.
///
/// # Errors
/// As [`side_by_side`].
pub(crate) fn side_by_side_reporting<T: Send, E: Send>(
    n: usize,
    work: impl Fn(usize, &dyn Fn(E)) -> Result<T> + Sync,
    message: impl FnMut(usize, E),
    done: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    on_lanes(lane_count(), n, work, message, done)
}

/// What a lane sends to the calling thread.
enum Msg<T, E> {
    Message(usize, E),
    Done(usize, Result<T>),
}

/// [`side_by_side_reporting`] on `lanes` lanes.
fn on_lanes<T: Send, E: Send>(
    lanes: usize,
    n: usize,
    work: impl Fn(usize, &dyn Fn(E)) -> Result<T> + Sync,
    mut message: impl FnMut(usize, E),
    mut done: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    let lanes = lanes.min(n);
    let pools = match IN_LANE.with(Cell::get) {
        false if lanes > 1 => pools(lanes, rayon::current_num_threads().max(lanes)),
        _ => None,
    };
    let Some(pools) = pools else {
        let message = std::cell::RefCell::new(&mut message);
        for i in 0..n {
            let out = work(i, &|e| (message.borrow_mut())(i, e))?;
            done(i, out)?;
        }
        return Ok(());
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Msg<T, E>>();
    std::thread::scope(|scope| {
        for pool in pools.iter() {
            let (tx, work, next, stop) = (tx.clone(), &work, &next, &stop);
            scope.spawn(move || {
                pool.install(|| {
                    IN_LANE.with(|l| l.set(true));
                    while !stop.load(Ordering::SeqCst) {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= n {
                            break;
                        }
                        let send = |e| {
                            // The receiver lives until every lane has ended.
                            let _ = tx.send(Msg::Message(i, e));
                        };
                        let out = work(i, &send);
                        if out.is_err() {
                            stop.store(true, Ordering::SeqCst);
                        }
                        if tx.send(Msg::Done(i, out)).is_err() {
                            break;
                        }
                    }
                    IN_LANE.with(|l| l.set(false));
                });
            });
        }
        drop(tx);
        hand_on(n, &rx, &stop, &mut message, &mut done)
    })
}

/// Receives the lanes' results and hands them to `done` in job order, until every job is
/// handed on or the first failure (in job order) can be returned.
fn hand_on<T, E>(
    n: usize,
    rx: &mpsc::Receiver<Msg<T, E>>,
    stop: &AtomicBool,
    message: &mut impl FnMut(usize, E),
    done: &mut impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    let mut waiting: HashMap<usize, Result<T>> = HashMap::new();
    let mut head = 0;
    while head < n {
        let Some(out) = waiting.remove(&head) else {
            match rx.recv() {
                Ok(Msg::Message(i, e)) => {
                    message(i, e);
                    continue;
                }
                Ok(Msg::Done(i, out)) => {
                    waiting.insert(i, out);
                    continue;
                }
                // Every lane ended without job `head`'s result: only when a lane panicked (a
                // failure stops new jobs, but every job before it was taken and reports), and
                // the scope re-raises that panic.
                Err(_) => break,
            }
        };
        if let Err(e) = out.and_then(|v| done(head, v)) {
            stop.store(true, Ordering::SeqCst);
            return Err(e);
        }
        head += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EvalError;

    fn plain<T>(
        f: impl Fn(usize) -> Result<T> + Sync,
    ) -> impl Fn(usize, &dyn Fn(())) -> Result<T> + Sync {
        move |i, _| f(i)
    }

    fn fail_at(at: usize) -> impl Fn(usize) -> Result<usize> + Sync {
        move |i| {
            if i == at {
                Err(EvalError::invalid("test", format!("job {i}")))
            } else {
                Ok(i * 10)
            }
        }
    }

    #[test]
    fn results_come_back_in_order_and_the_first_failure_stops_the_rest() {
        for lanes in [1, 2, 3] {
            let mut seen = Vec::new();
            on_lanes(
                lanes,
                7,
                plain(fail_at(usize::MAX)),
                |_, ()| {},
                |i, v| {
                    seen.push((i, v));
                    Ok(())
                },
            )
            .unwrap();
            let want: Vec<_> = (0..7).map(|i| (i, i * 10)).collect();
            assert_eq!(seen, want, "{lanes} lanes");

            let mut seen = Vec::new();
            let err = on_lanes(
                lanes,
                7,
                plain(fail_at(4)),
                |_, ()| {},
                |i, _| {
                    seen.push(i);
                    Ok(())
                },
            )
            .unwrap_err();
            assert!(err.to_string().contains("job 4"), "{err}");
            assert_eq!(
                seen,
                vec![0, 1, 2, 3],
                "{lanes} lanes: jobs before the failure"
            );
        }
    }

    #[test]
    fn messages_reach_the_caller_with_their_job() {
        for lanes in [1, 2] {
            let mut got = Vec::new();
            on_lanes(
                lanes,
                5,
                |i, send: &dyn Fn(usize)| {
                    send(i * 100);
                    send(i * 100 + 1);
                    Ok(i)
                },
                |i, m| got.push((i, m)),
                |_, _| Ok(()),
            )
            .unwrap();
            got.sort_unstable();
            let want: Vec<_> = (0..5)
                .flat_map(|i| [(i, i * 100), (i, i * 100 + 1)])
                .collect();
            assert_eq!(got, want, "{lanes} lanes");
        }
    }

    #[test]
    fn jobs_run_on_lanes_of_their_own_and_lanes_do_not_nest() {
        let threads = rayon::current_num_threads();
        let mut inner = Vec::new();
        on_lanes(
            2,
            4,
            |_, _: &dyn Fn(())| {
                let name = || std::thread::current().name().map(str::to_string);
                let mut nested = Vec::new();
                on_lanes(
                    2,
                    3,
                    |j, _: &dyn Fn(())| Ok((j, name())),
                    |_, ()| {},
                    |_, j| {
                        nested.push(j);
                        Ok(())
                    },
                )?;
                Ok((rayon::current_num_threads(), name(), nested))
            },
            |_, ()| {},
            |_, v| {
                inner.push(v);
                Ok(())
            },
        )
        .unwrap();
        for (lane_threads, lane, nested) in inner {
            assert!(lane_threads <= threads.max(1));
            let lane = lane.expect("lane threads are named");
            assert!(lane.starts_with("mira-lane"), "{lane}");
            // Nested jobs run one after another on the lane's own thread.
            let want: Vec<_> = (0..3).map(|j| (j, Some(lane.clone()))).collect();
            assert_eq!(nested, want);
        }
    }
}
