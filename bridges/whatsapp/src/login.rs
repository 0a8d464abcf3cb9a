//! The WhatsApp login as core [`LoginStep`]s: QR codes (replaced in place by the core as they
//! rotate) or a pairing code, then the linked account.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferrybridge_core::login::{LoginProcess, LoginStep};
use ruma::OwnedUserId;
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

/// One user's login in progress.
pub struct WaLogin {
    inner: Arc<Inner>,
    user: OwnedUserId,
    net: Arc<dyn WhatsAppNetwork>,
    phone: Option<Phone>,
    events: Option<mpsc::Receiver<PairingEvent>>,
    shown_any: bool,
    finished: bool,
}

impl WaLogin {
    pub fn new(
        inner: Arc<Inner>,
        user: OwnedUserId,
        net: Arc<dyn WhatsAppNetwork>,
        phone: Option<Phone>,
    ) -> Self {
        Self {
            inner,
            user,
            net,
            phone,
            events: None,
            shown_any: false,
            finished: false,
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
        let step = self.step().await;
        if matches!(step, LoginStep::Failed { .. }) && self.net.account().await.is_none() {
            // Nothing was linked: stop the client and drop the half-made session.
            self.net.disconnect().await;
            let _ = self.net.delete_session().await;
        }
        step
    }

    async fn submit(&mut self, _input: String) {}

    async fn cancel(&mut self) {
        if !self.finished {
            self.net.disconnect().await;
            let _ = self.net.delete_session().await;
        }
    }
}

impl WaLogin {
    async fn step(&mut self) -> LoginStep {
        if self.finished {
            return LoginStep::Failed {
                reason: "the login is over".into(),
            };
        }
        let timeout = self.inner.connect_timeout();
        if self.events.is_none()
            && let Some(phone) = self.net.account().await
        {
            // The session here is still linked (a reconnect that failed earlier): use it.
            self.finished = true;
            return match self
                .inner
                .activate(&self.user, self.net.clone(), phone.clone())
                .await
            {
                Ok(()) => LoginStep::Done {
                    account: phone.pretty(),
                },
                Err(e) => LoginStep::Failed {
                    reason: format!(
                        "your session is linked as {phone}, but {e}; send `sync` later"
                    ),
                },
            };
        }
        if self.events.is_none() {
            let started = match &self.phone {
                Some(phone) => tokio::time::timeout(timeout, self.net.pair_with_code(phone)).await,
                None => tokio::time::timeout(timeout, self.net.start_pairing()).await,
            };
            match started {
                Ok(Ok(rx)) => self.events = Some(rx),
                Ok(Err(WaError::Unreachable(d))) => return self.unreachable(&d),
                Ok(Err(e)) => return self.fail(describe(&e)),
                Err(_) => return self.unreachable("no answer in time"),
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
            None => return self.fail("internal error: no pairing"),
        };
        match event {
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
                match self
                    .inner
                    .activate(&self.user, self.net.clone(), phone)
                    .await
                {
                    Ok(()) => LoginStep::Done { account },
                    Err(e) => LoginStep::Failed {
                        reason: format!("linked as {account}, but could not connect: {e}"),
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::WhatsAppBridge;
    use crate::config::WhatsAppConfig;
    use crate::fake::FakeWhatsApp;

    async fn login(wa: &FakeWhatsApp, phone: Option<&str>) -> (tempfile::TempDir, WaLogin) {
        let dir = tempfile::tempdir().unwrap();
        let config = WhatsAppConfig {
            session_dir: dir.path().to_owned(),
            connect_timeout_secs: 2,
            ..Default::default()
        };
        let bridge = WhatsAppBridge::with_factory(config, wa.factory());
        let user: OwnedUserId = "@alice:example.org".try_into().unwrap();
        let net = bridge.inner().open_device(&user).await.unwrap();
        let phone = phone.map(|p| Phone::parse(p).unwrap());
        let login = WaLogin::new(bridge.inner().clone(), user, net, phone);
        (dir, login)
    }

    #[tokio::test]
    async fn unreachable_whatsapp_is_a_clear_failure() {
        let wa = FakeWhatsApp::new();
        wa.set_unreachable(true);
        let (_dir, mut l) = login(&wa, None).await;
        let LoginStep::Failed { reason } = l.next().await else {
            panic!("expected a failure")
        };
        assert!(reason.starts_with("cannot reach WhatsApp"), "{reason}");
    }

    #[tokio::test]
    async fn qr_codes_rotate_then_run_out() {
        let wa = FakeWhatsApp::new();
        wa.set_qr_count(2);
        let (_dir, mut l) = login(&wa, None).await;
        assert!(
            matches!(l.next().await, LoginStep::Qr { payload, .. } if payload.contains("qr-1"))
        );
        wa.rotate_qr().await;
        assert!(
            matches!(l.next().await, LoginStep::Qr { payload, .. } if payload.contains("qr-2"))
        );
        wa.rotate_qr().await;
        assert_eq!(
            l.next().await,
            LoginStep::Failed {
                reason: QR_EXHAUSTED.into()
            }
        );
        assert!(!wa.pairing_pending());
    }

    #[tokio::test]
    async fn pairing_code_is_shown_and_cancel_cleans_up() {
        let wa = FakeWhatsApp::new();
        let (dir, mut l) = login(&wa, Some("+4412345678")).await;
        assert!(matches!(l.next().await, LoginStep::Code { code, .. } if code.len() == 8));
        l.cancel().await;
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
