//! The async runtime: one `smol` executor shared by a small, fixed set of threads (the main thread
//! plus one per extra core, at most four in total). A Raspberry Pi Zero gets one thread; a Pi 4
//! gets four. Tasks must be `Send` because any of these threads may poll them.

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
    for i in 1..threads {
        // A thread that cannot be started only costs throughput; the main thread still runs
        // every task.
        let _ = std::thread::Builder::new()
            .name(format!("openclaw-{i}"))
            .stack_size(512 * 1024)
            .spawn(|| smol::block_on(EXECUTOR.run(future::pending::<()>())));
    }
    smol::block_on(EXECUTOR.run(main))
}
