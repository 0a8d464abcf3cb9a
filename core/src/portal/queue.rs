//! Per-key ordered queues: jobs with the same key run one after another, in the order they were
//! pushed; different keys run concurrently. A key's worker task exists only while it has work
//! (it exits after an idle period), so a bridge with many quiet portals holds no tasks for them.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{Notify, mpsc};

use crate::tasks::Tasks;

type Job = BoxFuture<'static, ()>;

/// One key's queue: its worker's inbox and how many jobs wait or run on it.
struct Lane {
    tx: mpsc::UnboundedSender<Job>,
    depth: Arc<AtomicUsize>,
}

/// Ordered queues keyed by `K`.
pub struct OrderedQueues<K> {
    lanes: Arc<Mutex<HashMap<K, Lane>>>,
    idle: Duration,
    /// Jobs waiting or running on all keys.
    total: Arc<AtomicUsize>,
    /// Signalled whenever a job ends (for [`Self::wait_below`] and [`Self::drain`]).
    progress: Arc<Notify>,
    tasks: Tasks,
    /// The same count as `total`, for a metric (shared by the queue sets given the same one).
    gauge: Gauge,
}

impl<K> Clone for OrderedQueues<K> {
    fn clone(&self) -> Self {
        Self {
            lanes: self.lanes.clone(),
            idle: self.idle,
            total: self.total.clone(),
            progress: self.progress.clone(),
            tasks: self.tasks.clone(),
            gauge: self.gauge.clone(),
        }
    }
}

impl<K: Clone + Eq + Hash + Send + std::fmt::Debug + 'static> OrderedQueues<K> {
    /// Queues whose workers exit after `idle` without work; workers are tracked in `tasks`.
    pub fn new(idle: Duration, tasks: Tasks) -> Self {
        Self {
            lanes: Arc::new(Mutex::new(HashMap::new())),
            idle,
            total: Arc::new(AtomicUsize::new(0)),
            progress: Arc::new(Notify::new()),
            tasks,
            gauge: Gauge::default(),
        }
    }

    /// Also counts the jobs waiting or running in `gauge` (a metric).
    pub fn counted(mut self, gauge: Gauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// Appends `job` to `key`'s queue, starting its worker if needed. Never blocks.
    pub fn push(&self, key: K, job: impl Future<Output = ()> + Send + 'static) {
        let mut job: Job = Box::pin(job);
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lane) = lanes.get(&key) {
            lane.depth.fetch_add(1, Ordering::SeqCst);
            self.total.fetch_add(1, Ordering::SeqCst);
            self.gauge.inc();
            match lane.tx.send(job) {
                Ok(()) => return,
                // The worker is gone (its task was cancelled); start a new one below.
                Err(mpsc::error::SendError(j)) => {
                    lane.depth.fetch_sub(1, Ordering::SeqCst);
                    self.total.fetch_sub(1, Ordering::SeqCst);
                    self.gauge.dec();
                    job = j;
                }
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let depth = Arc::new(AtomicUsize::new(1));
        self.total.fetch_add(1, Ordering::SeqCst);
        self.gauge.inc();
        // Cannot fail: we hold the receiver.
        let _ = tx.send(job);
        lanes.insert(
            key.clone(),
            Lane {
                tx,
                depth: depth.clone(),
            },
        );
        drop(lanes);
        let worker = Worker {
            key,
            rx,
            depth,
            lanes: self.lanes.clone(),
            total: self.total.clone(),
            progress: self.progress.clone(),
            idle: self.idle,
            tasks: self.tasks.clone(),
            gauge: self.gauge.clone(),
        };
        self.tasks.spawn(worker.run());
    }

    /// Number of keys with a live worker (for tests and metrics).
    pub fn active(&self) -> usize {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Jobs waiting or running on `key`'s queue.
    pub fn depth(&self, key: &K) -> usize {
        self.lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .map_or(0, |l| l.depth.load(Ordering::SeqCst))
    }

    /// Jobs waiting or running on all queues.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Waits until `key`'s queue holds fewer than `max` jobs.
    pub async fn wait_below(&self, key: &K, max: usize) {
        loop {
            let progressed = self.progress.notified();
            if self.depth(key) < max {
                return;
            }
            progressed.await;
        }
    }

    /// Waits until every queue is empty, or `deadline` passed; returns the jobs left.
    pub async fn drain(&self, deadline: Duration) -> usize {
        let wait = async {
            loop {
                let progressed = self.progress.notified();
                if self.total() == 0 {
                    return;
                }
                progressed.await;
            }
        };
        let _ = tokio::time::timeout(deadline, wait).await;
        self.total()
    }
}

/// The task that runs one key's jobs in order while it has work.
struct Worker<K> {
    key: K,
    rx: mpsc::UnboundedReceiver<Job>,
    depth: Arc<AtomicUsize>,
    lanes: Arc<Mutex<HashMap<K, Lane>>>,
    total: Arc<AtomicUsize>,
    progress: Arc<Notify>,
    idle: Duration,
    tasks: Tasks,
    gauge: Gauge,
}

impl<K: Eq + Hash + Send + std::fmt::Debug + 'static> Worker<K> {
    async fn run(mut self) {
        loop {
            let job = match tokio::time::timeout(self.idle, self.rx.recv()).await {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(_) => {
                    // Idle: retire, unless a job slipped in. Holding the map lock means no push
                    // can race with the removal.
                    let mut map = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
                    match self.rx.try_recv() {
                        Ok(job) => {
                            drop(map);
                            job
                        }
                        Err(_) => {
                            map.remove(&self.key);
                            return;
                        }
                    }
                }
            };
            // A panicking job must not take the queue down with it.
            if let Err(e) = self.tasks.spawn_uncancelled(job).await {
                tracing::error!(queue = ?self.key, error = %e, "queued job panicked");
            }
            self.depth.fetch_sub(1, Ordering::SeqCst);
            self.total.fetch_sub(1, Ordering::SeqCst);
            self.gauge.dec();
            self.progress.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn jobs_with_one_key_run_in_order() {
        let q = OrderedQueues::new(Duration::from_secs(5), Tasks::new());
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..100 {
            let seen = seen.clone();
            q.push("a", async move {
                // Later jobs finish faster; order must still hold.
                tokio::time::sleep(Duration::from_micros((100 - i) as u64)).await;
                seen.lock().unwrap().push(i);
            });
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        q.push("a", async move {
            let _ = tx.send(());
        });
        rx.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn different_keys_run_concurrently() {
        let q = OrderedQueues::new(Duration::from_secs(5), Tasks::new());
        let (block_tx, block_rx) = tokio::sync::oneshot::channel::<()>();
        q.push("slow", async move {
            let _ = block_rx.await;
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        q.push("fast", async move {
            let _ = tx.send(());
        });
        tokio::time::timeout(Duration::from_secs(2), rx)
            .await
            .unwrap()
            .unwrap();
        let _ = block_tx.send(());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_workers_retire_and_restart() {
        let q = OrderedQueues::new(Duration::from_secs(1), Tasks::new());
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        q.push(1u32, async move {
            n2.fetch_add(1, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(q.active(), 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(q.active(), 0);
        let n3 = n.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        q.push(1u32, async move {
            n3.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send(());
        });
        rx.await.unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_panicking_job_does_not_stop_the_queue() {
        let q = OrderedQueues::new(Duration::from_secs(5), Tasks::new());
        q.push("k", async { panic!("boom") });
        let (tx, rx) = tokio::sync::oneshot::channel();
        q.push("k", async move {
            let _ = tx.send(());
        });
        tokio::time::timeout(Duration::from_secs(2), rx)
            .await
            .unwrap()
            .unwrap();
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;

    #[tokio::test]
    async fn depth_counts_waiting_jobs_and_drain_waits_for_them() {
        let q = OrderedQueues::new(Duration::from_secs(5), Tasks::new());
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        q.push("k", async move {
            let _ = hold.await;
        });
        q.push("k", async {});
        assert_eq!(q.depth(&"k"), 2);
        assert_eq!(q.total(), 2);
        assert_eq!(q.drain(Duration::from_millis(20)).await, 2);
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { q.wait_below(&"k", 1).await })
        };
        let _ = release.send(());
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(q.drain(Duration::from_secs(2)).await, 0);
    }
}
