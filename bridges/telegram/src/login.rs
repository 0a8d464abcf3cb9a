//! The login dialogue: phone number → code → (two-step password) → done. Calls to Telegram
//! happen in `next` (the core shows "please wait" meanwhile); `submit` only records the answer.
//! The state lives in memory: a restart abandons it (the bridge then asks the user to start
//! over, see `PENDING_LOGINS`).

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::bridge::BridgeError;
use ferrybridge_core::ids::LoginSlot;
use ferrybridge_core::login::{LoginProcess, LoginStep};
use ruma::OwnedUserId;

use crate::bridge::{PENDING_LOGINS, TelegramBridge};
use crate::network::{SignIn, TelegramNetwork, TgError, TgUser};
use crate::session::account_label;

enum Stage {
    Phone,
    Code,
    Password { hint: Option<String> },
    Finished,
}

/// One user's login in progress.
pub struct TelegramLogin {
    bridge: Arc<TelegramBridge>,
    user: OwnedUserId,
    /// The number the login gets (the user's first free one).
    slot: LoginSlot,
    stage: Stage,
    net: Option<Arc<dyn TelegramNetwork>>,
    input: Option<String>,
    /// A problem to mention in the next prompt (wrong code...).
    problem: Option<String>,
}

impl TelegramLogin {
    pub fn new(bridge: Arc<TelegramBridge>, user: OwnedUserId, slot: LoginSlot) -> Self {
        Self {
            bridge,
            user,
            slot,
            stage: Stage::Phone,
            net: None,
            input: None,
            problem: None,
        }
    }

    /// Forgets the "login in progress" mark.
    async fn clear_pending(&self) {
        let store = self.bridge.host.store();
        let _ = store.kv_delete(PENDING_LOGINS, self.user.as_str()).await;
    }

    fn prompt(&mut self, text: &str, secret: bool) -> LoginStep {
        let prompt = match self.problem.take() {
            Some(p) => format!("{p} {text}"),
            None => text.to_owned(),
        };
        LoginStep::Input { prompt, secret }
    }

    fn fail(&mut self, reason: String) -> LoginStep {
        self.stage = Stage::Finished;
        LoginStep::Failed { reason }
    }

    async fn network(&mut self) -> Result<Arc<dyn TelegramNetwork>, TgError> {
        if let Some(n) = &self.net {
            return Ok(n.clone());
        }
        let bridge = self.bridge.clone();
        let net = bridge
            .call(
                bridge
                    .factory
                    .connect(&self.user, self.slot, bridge.host.store()),
            )
            .await?;
        self.net = Some(net.clone());
        Ok(net)
    }

    async fn done(&mut self, me: TgUser) -> LoginStep {
        let Some(net) = self.net.clone() else {
            return self.fail("internal error: no connection".into());
        };
        self.stage = Stage::Finished;
        match self
            .bridge
            .logged_in(&self.user, self.slot, net, me.clone())
            .await
        {
            Ok(()) if self.slot.is_first() => LoginStep::Done {
                account: account_label(&me),
            },
            Ok(()) => LoginStep::Done {
                account: format!("{} (login {})", account_label(&me), self.slot),
            },
            Err(BridgeError::Invalid(reason)) => LoginStep::Failed { reason },
            Err(e) => LoginStep::Failed {
                reason: format!("logged in, but the bridge could not save it: {e}"),
            },
        }
    }

    async fn on_phone(&mut self, phone: String) -> Option<LoginStep> {
        let phone: String = phone
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if !phone.starts_with('+')
            || phone.len() < 6
            || !phone[1..].chars().all(|c| c.is_ascii_digit())
        {
            self.problem = Some(format!(
                "{phone:?} is not a phone number in international format."
            ));
            return None;
        }
        let net = match self.network().await {
            Ok(n) => n,
            Err(e) => return Some(self.fail(connect_failure(&e))),
        };
        match self.bridge.call(net.request_login_code(&phone)).await {
            Ok(()) => {
                self.stage = Stage::Code;
                None
            }
            Err(TgError::InvalidPhone) => {
                self.problem = Some(format!(
                    "Telegram does not accept {phone} as a phone number."
                ));
                None
            }
            Err(e @ TgError::FloodWait(_)) => {
                Some(self.fail(format!("{e}. Send `login` again after that.")))
            }
            Err(e @ TgError::Network(_)) => Some(self.fail(connect_failure(&e))),
            Err(e) => Some(self.fail(e.to_string())),
        }
    }

    async fn on_code(&mut self, code: String) -> Option<LoginStep> {
        let Some(net) = self.net.clone() else {
            return Some(self.fail("internal error: no connection".into()));
        };
        match self.bridge.call(net.sign_in(&code)).await {
            Ok(SignIn::Done(me)) => Some(self.done(me).await),
            Ok(SignIn::PasswordRequired { hint }) => {
                self.stage = Stage::Password { hint };
                None
            }
            Err(TgError::CodeInvalid) => {
                self.problem = Some("That code is wrong.".into());
                None
            }
            Err(TgError::CodeExpired) => {
                Some(self.fail("the code has expired. Send `login` to get a new one.".into()))
            }
            Err(e @ TgError::FloodWait(_)) => {
                Some(self.fail(format!("{e}. Send `login` again after that.")))
            }
            Err(e @ TgError::Network(_)) => Some(self.fail(connect_failure(&e))),
            Err(e) => Some(self.fail(e.to_string())),
        }
    }

    async fn on_password(&mut self, password: String) -> Option<LoginStep> {
        let Some(net) = self.net.clone() else {
            return Some(self.fail("internal error: no connection".into()));
        };
        match self.bridge.call(net.check_password(&password)).await {
            Ok(me) => Some(self.done(me).await),
            Err(TgError::PasswordInvalid) => {
                self.problem = Some("That password is wrong.".into());
                None
            }
            Err(e @ TgError::FloodWait(_)) => {
                Some(self.fail(format!("{e}. Send `login` again after that.")))
            }
            Err(e @ TgError::Network(_)) => Some(self.fail(connect_failure(&e))),
            Err(e) => Some(self.fail(e.to_string())),
        }
    }
}

fn connect_failure(e: &TgError) -> String {
    match e {
        TgError::Network(detail) => {
            format!("cannot reach Telegram ({detail}). Try again later with `login`.")
        }
        e => e.to_string(),
    }
}

#[async_trait]
impl LoginProcess for TelegramLogin {
    async fn next(&mut self) -> LoginStep {
        if let Some(input) = self.input.take() {
            let step = match self.stage {
                Stage::Phone => self.on_phone(input).await,
                Stage::Code => self.on_code(input).await,
                Stage::Password { .. } => self.on_password(input).await,
                Stage::Finished => None,
            };
            if let Some(step) = step {
                if matches!(step, LoginStep::Failed { .. }) {
                    // Over: no "restart during login" notice for it (a success clears the
                    // mark in `logged_in`, a cancel in `cancel`; a shutdown keeps it).
                    self.clear_pending().await;
                }
                return step;
            }
        }
        match &self.stage {
            Stage::Phone => self.prompt(
                "Send your phone number in international format, e.g. +4412345678.",
                false,
            ),
            Stage::Code => self.prompt(
                "Send the login code Telegram sent you (in the Telegram app or by SMS). If it is wrong, send it again or `cancel` and `login` again.",
                false,
            ),
            Stage::Password { hint } => {
                let hint = hint
                    .as_deref()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                let text = format!("Your account has two-step verification. Send your password{hint}; the message will be redacted.");
                self.prompt(&text, true)
            }
            Stage::Finished => LoginStep::Failed {
                reason: "the login has already ended".into(),
            },
        }
    }

    async fn submit(&mut self, input: String) {
        self.input = Some(input);
    }

    async fn cancel(&mut self) {
        self.stage = Stage::Finished;
        self.clear_pending().await;
        if self.bridge.session_at(&self.user, self.slot).is_none() {
            let store = self.bridge.host.store();
            self.bridge
                .factory
                .forget(&self.user, self.slot, store)
                .await;
        }
        if let Some(net) = self.net.take() {
            net.disconnect().await;
        }
    }
}
