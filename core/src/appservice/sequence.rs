//! Stranded transactions: a homeserver that numbers its transactions 1, 2, 3 … (Synapse) can
//! leave one behind, and this notices the hole and gets it sent.
//!
//! Synapse's race, seen in our crash tests: after the bridge was unreachable, Synapse's
//! recoverer resends the queued transactions, finds the queue empty and marks the bridge up.
//! A transaction created just before that, while the bridge still counted as down, is sent by
//! nobody: it stays in Synapse's database until the recoverer runs again, which only happens
//! after some later send fails. The bridge then sees the numbers jump (298, then 300) and the
//! message in 299 is silently late by hours, or forever.
//!
//! The way out: refuse the first transaction after a jump, once. Synapse then starts its
//! recoverer, which sends the oldest unsent transaction first (the stranded one), then the
//! refused one: everything arrives, in order, a couple of seconds late.
//!
//! Only numeric IDs are checked. A homeserver whose numbers are not consecutive per
//! appservice (a global counter) shows itself the first time: the refused transaction comes
//! back without the missing one before it. The check then turns itself off for good.

use std::sync::Mutex;

/// What to do with a transaction.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Accept,
    /// Numbers `missing.0 ..= missing.1` never arrived: refuse this one so they are sent first.
    Refuse {
        missing: (u64, u64),
    },
}

#[derive(Debug, Default)]
struct State {
    /// The highest numeric transaction acknowledged in this run.
    last: Option<u64>,
    /// The transaction refused for a gap, and the number we expected before it.
    refused: Option<(u64, u64)>,
    /// The homeserver's numbers proved not consecutive: never refuse.
    off: bool,
}

/// The consecutive-numbers check, one per appservice listener.
#[derive(Debug, Default)]
pub(crate) struct Sequence {
    state: Mutex<State>,
}

impl Sequence {
    /// Whether to accept `txn_id` now.
    pub fn check(&self, txn_id: &str) -> Check {
        let Ok(n) = txn_id.parse::<u64>() else {
            return Check::Accept;
        };
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.off {
            return Check::Accept;
        }
        if let Some((refused, expected)) = st.refused
            && refused == n
        {
            // The refused one is back. If what we were missing did not come first, the
            // numbers were never consecutive: stop checking.
            if st.last.is_none_or(|last| last < expected) {
                tracing::info!(
                    "the homeserver does not number transactions consecutively; stranded-transaction check off"
                );
                st.off = true;
            }
            st.refused = None;
            return Check::Accept;
        }
        match st.last {
            Some(last) if n > last.saturating_add(1) => {
                st.refused = Some((n, last + 1));
                Check::Refuse {
                    missing: (last + 1, n - 1),
                }
            }
            _ => Check::Accept,
        }
    }

    /// Records that `txn_id` was acknowledged (recorded or a known duplicate).
    pub fn acknowledged(&self, txn_id: &str) {
        let Ok(n) = txn_id.parse::<u64>() else {
            return;
        };
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // A homeserver that numbers from lower again (its own reset) only pauses the check
        // until it passes the old numbers: never a wrong refusal.
        st.last = Some(st.last.map_or(n, |last| last.max(n)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seq: &Sequence, ids: &[u64]) {
        for id in ids {
            assert_eq!(seq.check(&id.to_string()), Check::Accept, "{id}");
            seq.acknowledged(&id.to_string());
        }
    }

    #[test]
    fn a_stranded_transaction_is_asked_for_once_then_arrives_first() {
        let seq = Sequence::default();
        ack(&seq, &(216..=298).collect::<Vec<_>>());
        assert_eq!(
            seq.check("300"),
            Check::Refuse {
                missing: (299, 299)
            }
        );
        // Synapse's recoverer: the stranded one, then the refused one.
        ack(&seq, &[299, 300, 301]);
        assert_eq!(
            seq.check("303"),
            Check::Refuse {
                missing: (302, 302)
            }
        );
    }

    #[test]
    fn non_consecutive_numbers_turn_the_check_off() {
        let seq = Sequence::default();
        ack(&seq, &[10]);
        assert_eq!(seq.check("15"), Check::Refuse { missing: (11, 14) });
        // Comes back without 11..14: a global counter, not a stranded transaction.
        ack(&seq, &[15, 40, 77]);
    }

    #[test]
    fn retries_renumbering_and_non_numeric_ids_are_accepted() {
        let seq = Sequence::default();
        ack(&seq, &[5, 6, 6, 3, 4, 7]);
        ack(&seq, &[1, 2]);
        assert_eq!(seq.check("txn-abc"), Check::Accept);
        assert_eq!(seq.check("8"), Check::Accept);
    }
}
