//! The WhatsApp login as core [`LoginStep`]s: QR codes (replaced in place by the core as they
//! rotate) or a pairing code, then the linked account.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferrybridge_core::ids::UserLogin;
use ferrybridge_core::login::{LoginProcess, LoginStep};
use tokio::sync::mpsc;

use crate::bridge::Inner;
use crate::jid::Phone;
use crate::network::{PairingEvent, WaError, WhatsAppNetwork};

/// How long a shown code may wait for the phone before the login gives up.
const PAIRING_LIMIT: Duration = Duration::from_secs(300);

pub const QR_INSTRUCTIONS: &str = "Scan this QR code with WhatsApp on your phone: \
    Settings (or ⋮) → Linked devices → Link a device.";
pub const CODE_INSTRUCTIONS: &str = "On your phone open WhatsApp → Linked devices → Link a device → \
    Link with phone number instead, and enter this code:";
pub const QR_EXHAUSTED: &str = "the QR codes ran out, send `login` to try again";

/// One user's login in progress: the pairing, then the bridge's side of a linked device.
pub struct WaLogin {
    inner: Arc<Inner>,
    /// Which of the user's logins this becomes (their first free number).
    login: UserLogin,
    pairing: Pairing,
}

impl WaLogin {
    pub fn new(
        inner: Arc<Inner>,
        login: UserLogin,
        net: Arc<dyn WhatsAppNetwork>,
        phone: Option<Phone>,
    ) -> Self {
        let timeout = inner.connect_timeout();
        Self {
            inner,
            login,
            pairing: Pairing::new(net, phone, timeout),
        }
    }

    /// The login as the user is told it: the account, and its number after the first.
    fn label(&self, account: String) -> String {
        if self.login.slot.is_first() {
            account
        } else {
            format!("{account} (login {})", self.login.slot)
        }
    }
}

/// The device side of a login: shows codes until the phone links the device. Holds nothing of
/// the bridge, so it is tested on its own.
pub(crate) struct Pairing {
    net: Arc<dyn WhatsAppNetwork>,
    phone: Option<Phone>,
    timeout: Duration,
    events: Option<mpsc::Receiver<PairingEvent>>,
    shown_any: bool,
    finished: bool,
}

/// What the pairing came to.
pub(crate) enum Paired {
    /// A code to show, or the end of the login.
    Step(LoginStep),
    /// The device is linked as `phone`; `earlier` if it already was (a failed reconnect).
    Linked {
        phone: Phone,
        account: String,
        earlier: bool,
    },
}

impl Pairing {
    pub(crate) fn new(
        net: Arc<dyn WhatsAppNetwork>,
        phone: Option<Phone>,
        timeout: Duration,
    ) -> Self {
        Self {
            net,
            phone,
            timeout,
            events: None,
            shown_any: false,
            finished: false,
        }
    }

    /// The next step; a failure before anything was linked drops the half-made session.
    pub(crate) async fn next(&mut self) -> Paired {
        let step = match self.step().await {
            Ok(step) => step,
            Err(linked) => return linked,
        };
        if matches!(step, LoginStep::Failed { .. }) && self.net.account().await.is_none() {
            // Nothing was linked: stop the client and drop the half-made session.
            self.net.disconnect().await;
            let _ = self.net.delete_session().await;
        }
        Paired::Step(step)
    }

    pub(crate) async fn cancel(&mut self) {
        if !self.finished {
            self.net.disconnect().await;
            let _ = self.net.delete_session().await;
        }
    }

    fn fail(&mut self, reason: impl Into<String>) -> LoginStep {
        self.finished = true;
        LoginStep::Failed {
            reason: reason.into(),
        }
    }

    fn unreachable(&mut self, detail: &str) -> LoginStep {
        self.fail(format!(
            "cannot reach WhatsApp ({detail}). Check the bridge's network connection and send `login` to try again."
        ))
    }
}

fn describe(e: &WaError) -> String {
    match e {
        WaError::Outdated => {
            "WhatsApp says this client is outdated; the bridge needs an update.".into()
        }
        WaError::Refused(m) if m.contains("rate") => {
            format!("WhatsApp is rate limiting logins ({m}); wait a few minutes and try again.")
        }
        other => other.to_string(),
    }
}

#[async_trait]
impl LoginProcess for WaLogin {
    async fn next(&mut self) -> LoginStep {
        let (phone, account, earlier) = match self.pairing.next().await {
            Paired::Step(step) => return step,
            Paired::Linked {
                phone,
                account,
                earlier,
            } => (phone, account, earlier),
        };
        let net = self.pairing.net.clone();
        let twin = self
            .inner
            .sessions
            .of(&self.login.user)
            .into_iter()
            .find(|(l, s)| *l != self.login && s.account == phone);
        if let Some((twin, _)) = twin {
            // The phone linked a second device for an account this user has: unlink it again.
            if let Err(e) = net.logout().await {
                tracing::warn!(login = %self.login, error = %e, "cannot unlink a duplicate WhatsApp device");
            }
            let _ = net.delete_session().await;
            return LoginStep::Failed {
                reason: format!(
                    "you are already logged in as {} (login {})",
                    phone.pretty(),
                    twin.slot
                ),
            };
        }
        // A login is news this dialogue tells; not a "reconnection".
        let host = &self.inner.host;
        host.forget_state(Some(&self.login.user), &host.slot_label(self.login.slot));
        match self.inner.activate(&self.login, net, phone.clone()).await {
            Ok(()) => LoginStep::Done {
                account: self.label(account),
            },
            Err(e) if earlier => LoginStep::Failed {
                reason: format!("your session is linked as {phone}, but {e}; send `sync` later"),
            },
            Err(e) => LoginStep::Failed {
                reason: format!("linked as {account}, but could not connect: {e}"),
            },
        }
    }

    async fn submit(&mut self, _input: String) {}

    async fn cancel(&mut self) {
        self.pairing.cancel().await;
    }
}

impl Pairing {
    /// A step to show, or `Err` with the linked device (not a failure: the login goes on).
    async fn step(&mut self) -> Result<LoginStep, Paired> {
        if self.finished {
            return Ok(LoginStep::Failed {
                reason: "the login is over".into(),
            });
        }
        let timeout = self.timeout;
        if self.events.is_none()
            && let Some(phone) = self.net.account().await
        {
            // The session here is still linked (a reconnect that failed earlier): use it.
            self.finished = true;
            return Err(Paired::Linked {
                account: phone.pretty(),
                phone,
                earlier: true,
            });
        }
        if self.events.is_none() {
            let started = match &self.phone {
                Some(phone) => tokio::time::timeout(timeout, self.net.pair_with_code(phone)).await,
                None => tokio::time::timeout(timeout, self.net.start_pairing()).await,
            };
            match started {
                Ok(Ok(rx)) => self.events = Some(rx),
                Ok(Err(WaError::Unreachable(d))) => return Ok(self.unreachable(&d)),
                Ok(Err(e)) => return Ok(self.fail(describe(&e))),
                Err(_) => return Ok(self.unreachable("no answer in time")),
            }
        }
        // Until something is shown, WhatsApp must answer within the connect timeout.
        let limit = if self.shown_any {
            PAIRING_LIMIT
        } else {
            timeout
        };
        let event = match &mut self.events {
            Some(rx) => tokio::time::timeout(limit, rx.recv()).await,
            None => return Ok(self.fail("internal error: no pairing")),
        };
        Ok(match event {
            Err(_) if !self.shown_any => self.unreachable("no answer in time"),
            Err(_) => self.fail("the code was not used in time, send `login` to try again"),
            Ok(None) if !self.shown_any => self.unreachable("the connection closed"),
            Ok(None) => self.fail("WhatsApp closed the connection; send `login` to try again"),
            Ok(Some(PairingEvent::Qr(payload))) => {
                self.shown_any = true;
                LoginStep::Qr {
                    payload,
                    instructions: QR_INSTRUCTIONS.into(),
                }
            }
            Ok(Some(PairingEvent::PairCode(code))) => {
                self.shown_any = true;
                LoginStep::Code {
                    code,
                    instructions: CODE_INSTRUCTIONS.into(),
                }
            }
            Ok(Some(PairingEvent::QrExhausted)) => self.fail(QR_EXHAUSTED),
            Ok(Some(PairingEvent::Error(WaError::Unreachable(d)))) => self.unreachable(&d),
            Ok(Some(PairingEvent::Error(e))) => self.fail(describe(&e)),
            Ok(Some(PairingEvent::Success { phone, name })) => {
                self.finished = true;
                let account = match name.filter(|n| !n.is_empty()) {
                    Some(name) => format!("{phone} ({name})"),
                    None => phone.pretty(),
                };
                return Err(Paired::Linked {
                    phone,
                    account,
                    earlier: false,
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeWhatsApp;
    use crate::network::WhatsAppFactory;

    /// A pairing on `factory`'s device, sessions in a temporary directory.
    async fn pairing(
        factory: &dyn WhatsAppFactory,
        phone: Option<&str>,
        timeout_secs: u64,
    ) -> (tempfile::TempDir, Pairing) {
        let dir = tempfile::tempdir().unwrap();
        let user: ruma::OwnedUserId = "@alice:example.org".try_into().unwrap();
        let path = crate::sessions::session_path(dir.path(), &UserLogin::first(user.clone()));
        let net = factory.open(&user, &path).await.unwrap();
        let phone = phone.map(|p| Phone::parse(p).unwrap());
        let p = Pairing::new(net, phone, Duration::from_secs(timeout_secs));
        (dir, p)
    }

    async fn step(p: &mut Pairing) -> LoginStep {
        match p.next().await {
            Paired::Step(step) => step,
            Paired::Linked { account, .. } => panic!("unexpectedly linked as {account}"),
        }
    }

    #[tokio::test]
    async fn unreachable_whatsapp_is_a_clear_failure() {
        let wa = FakeWhatsApp::new();
        wa.set_unreachable(true);
        let (_dir, mut l) = pairing(&*wa.factory(), None, 2).await;
        let LoginStep::Failed { reason } = step(&mut l).await else {
            panic!("expected a failure")
        };
        assert!(reason.starts_with("cannot reach WhatsApp"), "{reason}");
    }

    #[tokio::test]
    async fn real_login_without_a_route_fails_clearly_within_the_timeout() {
        let (_dir, mut l) = pairing(&crate::wa::RealFactory, None, 3).await;
        let answer = tokio::time::timeout(Duration::from_secs(60), step(&mut l))
            .await
            .expect("the login answers, not hangs");
        match answer {
            LoginStep::Failed { reason } => {
                assert!(reason.contains("cannot reach WhatsApp"), "{reason}")
            }
            other => panic!("expected a failure without a route, got {other:?}"),
        }
        l.cancel().await;
    }

    #[tokio::test]
    async fn qr_codes_rotate_then_run_out() {
        let wa = FakeWhatsApp::new();
        wa.set_qr_count(2);
        let (_dir, mut l) = pairing(&*wa.factory(), None, 2).await;
        assert!(
            matches!(step(&mut l).await, LoginStep::Qr { payload, .. } if payload.contains("qr-1"))
        );
        wa.rotate_qr().await;
        assert!(
            matches!(step(&mut l).await, LoginStep::Qr { payload, .. } if payload.contains("qr-2"))
        );
        wa.rotate_qr().await;
        assert_eq!(
            step(&mut l).await,
            LoginStep::Failed {
                reason: QR_EXHAUSTED.into()
            }
        );
        assert!(!wa.pairing_pending());
    }

    #[tokio::test]
    async fn pairing_code_is_shown_and_cancel_cleans_up() {
        let wa = FakeWhatsApp::new();
        let (dir, mut l) = pairing(&*wa.factory(), Some("+4412345678"), 2).await;
        assert!(matches!(step(&mut l).await, LoginStep::Code { code, .. } if code.len() == 8));
        l.cancel().await;
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
