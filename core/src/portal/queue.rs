//! Per-key ordered queues: jobs with the same key run one after another, in the order they were
//! pushed; different keys run concurrently. A key's worker task exists only while it has work
//! (it exits after an idle period), so a bridge with many quiet portals holds no tasks for them.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;

type Job = BoxFuture<'static, ()>;

/// A job waiting in a queue; it counts in the depth gauge until taken out or dropped unrun.
struct Waiting {
    job: Job,
    counted: Counted,
}

/// One unit of a depth gauge, given back on drop.
struct Counted(Gauge);

impl Counted {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Ordered queues keyed by `K`.
pub struct OrderedQueues<K> {
    senders: Arc<Mutex<HashMap<K, mpsc::UnboundedSender<Waiting>>>>,
    idle: Duration,
    /// Jobs pushed and not yet started, across all keys (shared with a metric, when given).
    waiting: Gauge,
}

impl<K> Clone for OrderedQueues<K> {
    fn clone(&self) -> Self {
        Self {
            senders: self.senders.clone(),
            idle: self.idle,
            waiting: self.waiting.clone(),
        }
    }
}

impl<K: Clone + Eq + Hash + Send + std::fmt::Debug + 'static> OrderedQueues<K> {
    /// Queues whose workers exit after `idle` without work.
    pub fn new(idle: Duration) -> Self {
        Self::counted(idle, Gauge::default())
    }

    /// Queues that also count their waiting jobs in `waiting` (e.g. a metric shared by
    /// several queue sets, which then shows their sum).
    pub fn counted(idle: Duration, waiting: Gauge) -> Self {
        Self {
            senders: Arc::new(Mutex::new(HashMap::new())),
            idle,
            waiting,
        }
    }

    /// Jobs pushed and not yet started, across all keys (including other queue sets that
    /// share this one's gauge).
    pub fn waiting(&self) -> i64 {
        self.waiting.get()
    }

    /// Appends `job` to `key`'s queue, starting its worker if needed. Never blocks.
    pub fn push(&self, key: K, job: impl Future<Output = ()> + Send + 'static) {
        let mut job = Waiting {
            job: Box::pin(job),
            counted: Counted::new(&self.waiting),
        };
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = senders.get(&key) {
            match tx.send(job) {
                Ok(()) => return,
                // The worker is gone (it panicked); start a new one below.
                Err(mpsc::error::SendError(j)) => job = j,
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // Cannot fail: we hold the receiver.
        let _ = tx.send(job);
        senders.insert(key.clone(), tx);
        drop(senders);
        tokio::spawn(Self::work(key, rx, self.senders.clone(), self.idle));
    }

    /// Number of keys with a live worker (for tests and metrics).
    pub fn active(&self) -> usize {
        self.senders.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    async fn work(
        key: K,
        mut rx: mpsc::UnboundedReceiver<Waiting>,
        senders: Arc<Mutex<HashMap<K, mpsc::UnboundedSender<Waiting>>>>,
        idle: Duration,
    ) {
        loop {
            let job = match tokio::time::timeout(idle, rx.recv()).await {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(_) => {
                    // Idle: retire, unless a job slipped in. Holding the map lock means no push
                    // can race with the removal.
                    let mut map = senders.lock().unwrap_or_else(|p| p.into_inner());
                    match rx.try_recv() {
                        Ok(job) => {
                            drop(map);
                            job
                        }
                        Err(_) => {
                            map.remove(&key);
                            return;
                        }
                    }
                }
            };
            // Started: it no longer waits.
            let Waiting { job, counted } = job;
            drop(counted);
            // A panicking job must not take the queue down with it.
            if let Err(e) = tokio::spawn(job).await {
                tracing::error!(queue = ?key, error = %e, "queued job panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn jobs_with_one_key_run_in_order() {
        let q = OrderedQueues::new(Duration::from_secs(5));
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
        let q = OrderedQueues::new(Duration::from_secs(5));
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
        let q = OrderedQueues::new(Duration::from_secs(1));
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
    async fn waiting_counts_jobs_not_yet_started() {
        let q = OrderedQueues::new(Duration::from_secs(5));
        let (block_tx, block_rx) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        q.push("k", async move {
            let _ = started_tx.send(());
            let _ = block_rx.await;
        });
        started_rx.await.unwrap();
        for _ in 0..3 {
            q.push("k", async {});
        }
        assert_eq!(q.waiting(), 3);
        let (tx, rx) = tokio::sync::oneshot::channel();
        q.push("k", async move {
            let _ = tx.send(());
        });
        assert_eq!(q.waiting(), 4);
        let _ = block_tx.send(());
        rx.await.unwrap();
        assert_eq!(q.waiting(), 0);
    }

    #[tokio::test]
    async fn a_panicking_job_does_not_stop_the_queue() {
        let q = OrderedQueues::new(Duration::from_secs(5));
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
