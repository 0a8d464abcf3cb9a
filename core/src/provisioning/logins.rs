//! Logins driven over HTTP: the same step machine the bot drives in a management room
//! ([`LoginProcess`]), one step per request. A front-end starts a login, shows each step (a
//! prompt, a QR code to render, a code), answers prompts, long-polls while the user scans, and
//! may cancel. A login nobody asked about for [`IDLE`] is cancelled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ruma::OwnedUserId;

use crate::login::{LoginProcess, LoginStep};

/// How long a login lives without a request.
const IDLE: Duration = Duration::from_secs(600);

/// How long one request waits for the login's next step before answering `wait`.
pub(super) const LONG_POLL: Duration = Duration::from_secs(30);

/// Whether the login ends with this step.
fn is_final(step: &LoginStep) -> bool {
    matches!(step, LoginStep::Done { .. } | LoginStep::Failed { .. })
}

/// One login in progress.
struct Session {
    owner: OwnedUserId,
    /// The step machine; one request at a time drives it.
    process: tokio::sync::Mutex<Box<dyn LoginProcess>>,
    /// Whether the last step asked for input (so `/input` is expected, `/wait` is not).
    awaiting_input: Mutex<bool>,
    touched: Mutex<Instant>,
}

/// Why a login request could not be served.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("no such login (it finished, was cancelled or expired)")]
    Unknown,
    #[error("the login is not waiting for input; poll /wait")]
    NotAsking,
    #[error("the login is waiting for input; send it to /input")]
    Asking,
    #[error("you already have a login in progress: {0}")]
    Busy(String),
}

/// Logins in progress, by ID.
#[derive(Clone, Default)]
pub struct LoginSessions {
    sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
}

impl LoginSessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops logins idle for too long; their processes are cancelled as they drop.
    fn expire(&self) {
        self.map().retain(|_, s| {
            s.touched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed()
                < IDLE
        });
    }

    /// Registers a new login of `owner` and returns its ID and first step.
    pub async fn start(
        &self,
        owner: &OwnedUserId,
        process: Box<dyn LoginProcess>,
    ) -> Result<(String, LoginStep), LoginError> {
        self.expire();
        let id = uuid::Uuid::new_v4().simple().to_string();
        {
            let mut map = self.map();
            if let Some((other, _)) = map.iter().find(|(_, s)| s.owner == *owner) {
                return Err(LoginError::Busy(other.clone()));
            }
            map.insert(
                id.clone(),
                Arc::new(Session {
                    owner: owner.clone(),
                    process: tokio::sync::Mutex::new(process),
                    awaiting_input: Mutex::new(false),
                    touched: Mutex::new(Instant::now()),
                }),
            );
        }
        let step = self.advance(owner, &id, None).await?;
        Ok((id, step))
    }

    /// Feeds `input` to the login (it must be asking) and returns the next step.
    pub async fn input(
        &self,
        owner: &OwnedUserId,
        id: &str,
        input: String,
    ) -> Result<LoginStep, LoginError> {
        self.advance(owner, id, Some(input)).await
    }

    /// Waits (up to [`LONG_POLL`]) for the login's next step.
    pub async fn wait(&self, owner: &OwnedUserId, id: &str) -> Result<LoginStep, LoginError> {
        self.advance(owner, id, None).await
    }

    /// Cancels the login.
    pub async fn cancel(&self, owner: &OwnedUserId, id: &str) -> Result<(), LoginError> {
        let session = self.session(owner, id)?;
        self.map().remove(id);
        session.process.lock().await.cancel().await;
        Ok(())
    }

    fn session(&self, owner: &OwnedUserId, id: &str) -> Result<Arc<Session>, LoginError> {
        self.expire();
        let session = self
            .map()
            .get(id)
            .filter(|s| s.owner == *owner)
            .cloned()
            .ok_or(LoginError::Unknown)?;
        *session.touched.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        Ok(session)
    }

    async fn advance(
        &self,
        owner: &OwnedUserId,
        id: &str,
        input: Option<String>,
    ) -> Result<LoginStep, LoginError> {
        let session = self.session(owner, id)?;
        let mut process = session.process.lock().await;
        let asking = *session
            .awaiting_input
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match (asking, input) {
            (true, Some(input)) => process.submit(input.trim().to_owned()).await,
            (true, None) => return Err(LoginError::Asking),
            (false, Some(_)) => return Err(LoginError::NotAsking),
            (false, None) => {}
        }
        let deadline = tokio::time::Instant::now() + LONG_POLL;
        let step = loop {
            match tokio::time::timeout_at(deadline, process.next()).await {
                Ok(LoginStep::Wait) => tokio::task::yield_now().await,
                Ok(step) => break step,
                Err(_) => break LoginStep::Wait,
            }
        };
        *session
            .awaiting_input
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = matches!(step, LoginStep::Input { .. });
        if is_final(&step) {
            self.map().remove(id);
        }
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    /// Asks for a code, then succeeds if it is "42".
    struct Scripted {
        asked: bool,
        answer: Option<String>,
    }

    #[async_trait]
    impl LoginProcess for Scripted {
        async fn next(&mut self) -> LoginStep {
            match (&self.answer, self.asked) {
                (None, false) => {
                    self.asked = true;
                    LoginStep::Input {
                        prompt: "code?".into(),
                        secret: false,
                    }
                }
                (Some(a), _) if a == "42" => LoginStep::Done {
                    account: "+1555".into(),
                },
                _ => LoginStep::Failed {
                    reason: "wrong code".into(),
                },
            }
        }
        async fn submit(&mut self, input: String) {
            self.answer = Some(input);
        }
    }

    fn user(name: &str) -> OwnedUserId {
        format!("@{name}:hs").try_into().unwrap()
    }

    #[tokio::test]
    async fn a_login_runs_step_by_step_for_its_owner_only() {
        let logins = LoginSessions::default();
        let alice = user("alice");
        let (id, step) = logins
            .start(
                &alice,
                Box::new(Scripted {
                    asked: false,
                    answer: None,
                }),
            )
            .await
            .unwrap();
        assert!(matches!(step, LoginStep::Input { .. }));
        assert_eq!(
            logins.input(&user("mallory"), &id, "42".into()).await,
            Err(LoginError::Unknown),
            "another user cannot drive it"
        );
        assert_eq!(logins.wait(&alice, &id).await, Err(LoginError::Asking));
        let second = logins
            .start(
                &alice,
                Box::new(Scripted {
                    asked: false,
                    answer: None,
                }),
            )
            .await;
        assert!(matches!(second, Err(LoginError::Busy(_))));
        assert_eq!(
            logins.input(&alice, &id, " 42 ".into()).await,
            Ok(LoginStep::Done {
                account: "+1555".into()
            })
        );
        assert_eq!(
            logins.wait(&alice, &id).await,
            Err(LoginError::Unknown),
            "over"
        );
    }

    #[test]
    fn steps_serialize_with_their_type() {
        let json = serde_json::to_value(LoginStep::Qr {
            payload: "2@abc".into(),
            instructions: "scan".into(),
        })
        .unwrap();
        assert_eq!(json["type"], "qr");
        assert_eq!(json["payload"], "2@abc");
        assert_eq!(
            serde_json::to_value(LoginStep::Wait).unwrap()["type"],
            "wait"
        );
    }
}
