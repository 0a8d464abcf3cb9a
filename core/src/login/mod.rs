//! The login step machine: a network describes its login as a sequence of [`LoginStep`]s and the
//! core drives it from the user's management room.
//!
//! Telegram asks for a phone number, then a code, then maybe a password (secret: the core redacts
//! the user's message); WhatsApp shows a QR code that it replaces when it rotates, or a pairing
//! code. Both fit this shape: the core asks [`LoginProcess::next`] what to show, feeds the user's
//! answers to [`LoginProcess::submit`], and stops on `Done`, `Failed` or the user's `cancel`.

use async_trait::async_trait;

pub mod qr;

/// What the login wants from, or shows to, the user next. The provisioning API shows it as
/// JSON tagged by `type` (`input`, `qr`, `code`, `wait`, `done`, `failed`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LoginStep {
    /// Ask the user to type something. `secret` inputs are redacted after reading.
    Input { prompt: String, secret: bool },
    /// Show a QR code encoding `payload`. A later `Qr` replaces the earlier image in place.
    Qr {
        payload: String,
        instructions: String,
    },
    /// Show a code the user types on their phone.
    Code { code: String, instructions: String },
    /// Nothing to show; call `next` again (the network is waiting on the remote side).
    Wait,
    /// Logged in as `account` (shown to the user).
    Done { account: String },
    /// The login failed; `reason` is shown. The user may start again.
    Failed { reason: String },
}

/// One user's login in progress. Dropping it abandons the login.
#[async_trait]
pub trait LoginProcess: Send {
    /// Waits for the next step. After an `Input` step, `submit` is called before `next` again.
    async fn next(&mut self) -> LoginStep;

    /// The user's answer to the last `Input` step.
    async fn submit(&mut self, input: String);

    /// The user cancelled; release remote resources.
    async fn cancel(&mut self) {}
}
