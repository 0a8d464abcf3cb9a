//! Every task the bridge spawns, tracked so that shutdown can wait for them in order and cancel
//! what is left: no detached `tokio::spawn` that outlives the bridge or dies unnoticed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

/// The bridge's task set: a tracker plus the token that tells tasks to stop. Cheap to clone.
#[derive(Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// Set when shutdown begins, before anything is cancelled: work that can be parked for
    /// the next start (Matrix events, which stay in the inbox) stops being started.
    stopping: CancellationToken,
}

impl Tasks {
    /// A new, empty task set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns `fut` as a tracked task that is dropped at its next await point once shutdown
    /// cancels the set. Loops that must clean up (send QUIT, flush) select on
    /// [`Tasks::cancelled`] themselves instead.
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<()>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(UntilCancelled {
            cancelled: self.cancel.clone().cancelled_owned(),
            fut,
        })
    }

    /// Spawns `fut` as a tracked task that runs to its end even during shutdown (the shutdown
    /// waits for it up to its deadline). For work that must not be cut in half.
    pub fn spawn_uncancelled<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(fut)
    }

    /// Marks the start of shutdown: [`Tasks::is_stopping`] turns true; nothing is cancelled yet.
    pub fn begin_shutdown(&self) {
        self.stopping.cancel();
    }

    /// Whether shutdown has begun (work that can wait for the next start should not start).
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Resolves when shutdown has begun.
    pub async fn stopping(&self) {
        self.stopping.cancelled().await
    }

    /// Resolves when tasks are being cancelled (the last step of shutdown).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// Whether shutdown has begun.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// A token that is cancelled when shutdown begins (for APIs that take one).
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Tasks still running.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether no task is running.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Cancels every task and waits up to `deadline` for them to end; returns how many were
    /// still running then (they are left to the runtime's own shutdown).
    pub async fn shutdown(&self, deadline: Duration) -> usize {
        self.stopping.cancel();
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            return self.tracker.len();
        }
        0
    }
}

pin_project_lite::pin_project! {
    /// `fut` until it ends or `cancelled` fires (then it is dropped). A `select!` in an async
    /// block keeps a second copy of `fut` in the task: with one or two tasks per IRC puppet
    /// connection that was ~10 KiB per puppet (debug build).
    struct UntilCancelled<F> {
        #[pin]
        cancelled: WaitForCancellationFutureOwned,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for UntilCancelled<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.cancelled.poll(cx).is_ready() || this.fut.poll(cx).is_ready() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_cancels_and_waits() {
        let tasks = Tasks::new();
        tasks.spawn(std::future::pending::<()>());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tasks.spawn_uncancelled(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks.shutdown(Duration::from_secs(2)).await, 0);
        assert!(rx.await.is_ok(), "the uncancelled task ran to its end");
        assert!(tasks.is_empty());
    }

    #[tokio::test]
    async fn shutdown_reports_tasks_past_the_deadline() {
        let tasks = Tasks::new();
        tasks.spawn_uncancelled(tokio::time::sleep(Duration::from_secs(5)));
        assert_eq!(tasks.shutdown(Duration::from_millis(20)).await, 1);
    }
}
