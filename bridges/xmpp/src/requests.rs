//! IQ requests the bridge sends and waits for (vCard fetches, archive queries). Each gets a unique id; the
//! stanza reader hands answers with that id to [`Requests::resolve`], which completes the
//! waiting request. A request without an answer in time fails with a timeout and is forgotten,
//! so a server that never answers leaks nothing. Never await a request on the stanza reader
//! itself: the answer arrives through it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_xmpp::minidom::Element;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;

use crate::outbox::Outbox;

/// Prefix of the ids of our requests (keepalive pings have their own).
const PREFIX: &str = "fb-iq-";

/// Why a request has no result.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answered with an error: {0}")]
    Refused(String),
    #[error("the request was dropped")]
    Dropped,
}

type Answer = Result<Option<Element>, RequestError>;

/// Requests in flight: id → the waiter.
#[derive(Default)]
pub struct Requests {
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
}

/// Removes a request's entry however its wait ends (answer, timeout, cancellation).
struct Forget<'a> {
    requests: &'a Requests,
    id: String,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.requests.lock().remove(&self.id);
    }
}

impl Requests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Answer>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `<iq type='get'>` with `payload` and waits up to `timeout` for the result's payload.
    pub async fn get(
        &self,
        outbox: &Outbox,
        from: Jid,
        to: Jid,
        payload: Element,
        timeout: Duration,
    ) -> Answer {
        self.request(outbox, timeout, |id| Iq::Get {
            from: Some(from),
            to: Some(to),
            id,
            payload,
        })
        .await
    }

    /// Sends `<iq type='set'>` with `payload` and waits up to `timeout` for the result's payload.
    pub async fn set(
        &self,
        outbox: &Outbox,
        from: Jid,
        to: Jid,
        payload: Element,
        timeout: Duration,
    ) -> Answer {
        self.request(outbox, timeout, |id| Iq::Set {
            from: Some(from),
            to: Some(to),
            id,
            payload,
        })
        .await
    }

    async fn request(
        &self,
        outbox: &Outbox,
        timeout: Duration,
        iq: impl FnOnce(String) -> Iq,
    ) -> Answer {
        let id = format!("{PREFIX}{}", uuid::Uuid::new_v4().simple());
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id.clone(), tx);
        let _forget = Forget {
            requests: self,
            id: id.clone(),
        };
        outbox.send(iq(id));
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(RequestError::Dropped),
            Err(_) => Err(RequestError::Timeout(timeout)),
        }
    }

    /// Takes the answer to one of our requests; hands back any other IQ.
    pub fn resolve(&self, iq: Iq) -> Option<Iq> {
        let id = match &iq {
            Iq::Result { id, .. } | Iq::Error { id, .. } if id.starts_with(PREFIX) => id.clone(),
            _ => return Some(iq),
        };
        let Some(tx) = self.lock().remove(&id) else {
            tracing::debug!(%id, "answer to a request that is no longer waited for");
            return None;
        };
        let answer = match iq {
            Iq::Result { payload, .. } => Ok(payload),
            Iq::Error { error, .. } => Err(RequestError::Refused(
                error
                    .texts
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| format!("{:?}", error.defined_condition)),
            )),
            _ => return None,
        };
        let _ = tx.send(answer);
        None
    }

    /// Requests waiting for an answer (for tests).
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn jid(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }

    fn sent_id(rx: &mut crate::outbox::OutboxReceiver) -> String {
        match rx.try_recv() {
            Some(tokio_xmpp::Stanza::Iq(Iq::Get { id, .. })) => id,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn answers_are_matched_by_id_and_others_pass_through() {
        let (outbox, mut rx) = Outbox::new(100);
        let requests = Arc::new(Requests::default());
        let r = requests.clone();
        let o = outbox.clone();
        let wait = tokio::spawn(async move {
            r.get(
                &o,
                jid("matrix.localhost"),
                jid("alice@localhost"),
                crate::xml::build("vCard", "vcard-temp", &[]),
                Duration::from_secs(5),
            )
            .await
        });
        while rx.is_empty() {
            tokio::task::yield_now().await;
        }
        let id = sent_id(&mut rx);
        let other = Iq::Result {
            from: None,
            to: None,
            id: "fb-ping-1".into(),
            payload: None,
        };
        assert!(requests.resolve(other).is_some(), "not ours");
        let answer = Iq::Result {
            from: None,
            to: None,
            id,
            payload: Some(crate::xml::build("vCard", "vcard-temp", &[])),
        };
        assert!(requests.resolve(answer).is_none());
        let got = wait.await.unwrap().unwrap();
        assert!(got.is_some_and(|p| p.name() == "vCard"));
        assert_eq!(requests.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn unanswered_requests_time_out_and_are_forgotten() {
        let (outbox, _rx) = Outbox::new(100);
        let requests = Requests::default();
        let got = requests
            .get(
                &outbox,
                jid("matrix.localhost"),
                jid("alice@localhost"),
                crate::xml::build("vCard", "vcard-temp", &[]),
                Duration::from_secs(10),
            )
            .await;
        assert!(matches!(got, Err(RequestError::Timeout(_))), "{got:?}");
        assert_eq!(requests.in_flight(), 0);
    }
}
