//! The async runtime: one `smol` executor shared by a small, fixed set of threads (the main thread
//! plus one per extra core, at most four in total). A Raspberry Pi Zero gets one thread; a Pi 4
//! gets four. Tasks must be `Send` because any of these threads may poll them.
//!
//! Who waits on the sockets depends on the number of threads:
//! - One thread: it runs the tasks and, when it has none, waits in `epoll` itself (`smol::block_on`),
//!   so turning a readable socket into a running task costs no switch between threads.
//! - Several: they only run tasks and sleep when there are none (`future::block_on`); async-io's
//!   own thread alone waits in `epoll` and hands the woken tasks over. When the task threads also
//!   took turns waiting in `epoll`, the tail under load was long: `wrk -t2 -c50` on two cores
//!   measured p99 3.4-4.3 ms and p99.9 6-9 ms, against 1.7-2.5 ms and about 3 ms this way, at
//!   the same rate. Our reading: a thread that runs tasks all the time has used its share of the
//!   CPU, so the kernel is slow to run it again when socket events arrive on a busy machine, while
//!   a thread that only waits is run at once. On one core the extra thread costs a switch per wake-up
//!   and about 30 % of the rate (measured), hence the first case.
//!
//! The connections the gateway accepts are the exception: they sit in an edge-triggered `epoll`
//! of their own (`net::edge`), which async-io's `epoll` watches as one descriptor and one task
//! drains, so the picture above holds for them too.

use crate::limits::EXECUTOR_MAX_THREADS;
use smol::{Executor, Task, future};
use std::future::Future;

static EXECUTOR: Executor<'static> = Executor::new();

/// Spawns a task on the gateway's executor.
pub fn spawn<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Task<T> {
    EXECUTOR.spawn(fut)
}

/// Runs `main` to completion on the executor, with helper threads for the other cores.
pub fn block_on<T>(main: impl Future<Output = T>) -> T {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, EXECUTOR_MAX_THREADS);
    if threads == 1 {
        return smol::block_on(EXECUTOR.run(main));
    }
    for i in 1..threads {
        // A thread that cannot be started only costs throughput; the main thread still runs
        // every task.
        let _ = std::thread::Builder::new()
            .name(format!("openclaw-{i}"))
            .stack_size(512 * 1024)
            .spawn(|| future::block_on(EXECUTOR.run(future::pending::<()>())));
    }
    future::block_on(EXECUTOR.run(main))
}
