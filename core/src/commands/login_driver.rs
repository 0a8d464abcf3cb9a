//! Drives a [`LoginProcess`] from a user's management room: shows prompts, QR codes (replaced in
//! place when they rotate) and codes; routes the user's answers back; redacts secret answers;
//! stops on success, failure or `cancel`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use tokio::sync::mpsc;

use crate::events::{Media, MessageContent, MessageKind};
use crate::host::BridgeHost;
use crate::login::{LoginProcess, LoginStep};

/// How long a login waits for the user to answer a prompt.
const INPUT_TIMEOUT: Duration = Duration::from_secs(600);

/// What the user sent while a login waits.
#[derive(Debug)]
pub enum LoginInput {
    Text {
        text: String,
        event_id: OwnedEventId,
    },
    Cancel,
}

/// Logins waiting for input, by (user, management room).
#[derive(Clone, Default)]
pub struct PendingInputs {
    inner: Arc<Mutex<HashMap<(OwnedUserId, OwnedRoomId), mpsc::Sender<LoginInput>>>>,
}

impl PendingInputs {
    /// Whether a login of `user` in `room` is running.
    pub fn is_waiting(&self, user: &OwnedUserId, room: &OwnedRoomId) -> bool {
        self.map()
            .get(&(user.clone(), room.clone()))
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Hands input to the running login; `false` if there is none.
    pub async fn deliver(&self, user: &OwnedUserId, room: &OwnedRoomId, input: LoginInput) -> bool {
        let tx = self.map().get(&(user.clone(), room.clone())).cloned();
        match tx {
            Some(tx) => tx.send(input).await.is_ok(),
            None => false,
        }
    }

    fn register(
        &self,
        user: &OwnedUserId,
        room: &OwnedRoomId,
    ) -> Option<mpsc::Receiver<LoginInput>> {
        let mut map = self.map();
        let key = (user.clone(), room.clone());
        if map.get(&key).is_some_and(|tx| !tx.is_closed()) {
            return None;
        }
        let (tx, rx) = mpsc::channel(8);
        map.insert(key, tx);
        Some(rx)
    }

    fn remove(&self, user: &OwnedUserId, room: &OwnedRoomId) {
        self.map().remove(&(user.clone(), room.clone()));
    }

    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(OwnedUserId, OwnedRoomId), mpsc::Sender<LoginInput>>>
    {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts driving `process` in the background; `false` if a login is already running there.
pub fn spawn_login(
    host: BridgeHost,
    pending: PendingInputs,
    user: OwnedUserId,
    room: OwnedRoomId,
    process: Box<dyn LoginProcess>,
) -> bool {
    let Some(rx) = pending.register(&user, &room) else {
        return false;
    };
    let tasks = host.tasks().clone();
    tasks.spawn(async move {
        let mut driver = Driver {
            host: host.clone(),
            user: user.clone(),
            room: room.clone(),
            qr_event: None,
        };
        driver.run(process, rx).await;
        pending.remove(&user, &room);
    });
    true
}

struct Driver {
    host: BridgeHost,
    user: OwnedUserId,
    room: OwnedRoomId,
    /// The QR image on screen, replaced when the code rotates and removed at the end.
    qr_event: Option<OwnedEventId>,
}

impl Driver {
    async fn run(
        &mut self,
        mut process: Box<dyn LoginProcess>,
        mut rx: mpsc::Receiver<LoginInput>,
    ) {
        loop {
            let step = tokio::select! {
                step = process.next() => step,
                input = rx.recv() => match input {
                    Some(LoginInput::Cancel) | None => return self.cancelled(process).await,
                    // Input nobody asked for yet: tell the user to wait.
                    Some(LoginInput::Text { .. }) => {
                        self.say("Please wait, the login is not ready for input yet (send `cancel` to stop it).").await;
                        continue;
                    }
                },
            };
            match step {
                LoginStep::Input { prompt, secret } => {
                    self.say(&prompt).await;
                    match tokio::time::timeout(INPUT_TIMEOUT, rx.recv()).await {
                        Ok(Some(LoginInput::Text { text, event_id })) => {
                            if secret {
                                let _ = self
                                    .host
                                    .matrix()
                                    .bot_intent()
                                    .redact(&self.room, &event_id, Some("secret login input"))
                                    .await;
                            }
                            process.submit(text.trim().to_owned()).await;
                        }
                        Ok(Some(LoginInput::Cancel)) | Ok(None) => {
                            return self.cancelled(process).await;
                        }
                        Err(_) => {
                            process.cancel().await;
                            self.clear_qr().await;
                            return self.say("The login timed out waiting for your answer. Send `login` to start again.").await;
                        }
                    }
                }
                LoginStep::Qr {
                    payload,
                    instructions,
                } => self.show_qr(&payload, &instructions).await,
                LoginStep::Code { code, instructions } => {
                    let html = format!(
                        "{}<br><code>{}</code>",
                        crate::html::escape(&instructions),
                        crate::html::escape(&code)
                    );
                    let _ = self
                        .host
                        .notices()
                        .send(
                            &self.room,
                            &format!("{instructions}\n{code}"),
                            Some(&html),
                            None,
                        )
                        .await;
                }
                LoginStep::Wait => tokio::task::yield_now().await,
                LoginStep::Done { account } => {
                    self.clear_qr().await;
                    return self
                        .say(&format!("Successfully logged in as {account}."))
                        .await;
                }
                LoginStep::Failed { reason } => {
                    self.clear_qr().await;
                    return self.say(&format!("Login failed: {reason}")).await;
                }
            }
        }
    }

    async fn cancelled(&mut self, mut process: Box<dyn LoginProcess>) {
        process.cancel().await;
        self.clear_qr().await;
        self.say("Login cancelled.").await;
    }

    async fn say(&self, text: &str) {
        if let Err(e) = self.host.notices().send(&self.room, text, None, None).await {
            tracing::error!(user = %self.user, error = %e, "could not send login step");
        }
    }

    /// Posts the QR code as an image, or replaces the one on screen (an edit with new content).
    async fn show_qr(&mut self, payload: &str, instructions: &str) {
        let png = match crate::login::qr::render_png(payload) {
            Ok(png) => png,
            Err(e) => {
                tracing::error!(error = %e, "cannot render QR code");
                return self.say(&format!("{instructions}\n(The QR code could not be drawn; its content is: {payload})")).await;
            }
        };
        let size = png.len() as u64;
        let mxc = match self
            .host
            .matrix()
            .upload_for_room(&self.room, png.into(), "image/png", Some("login-qr.png"))
            .await
        {
            Ok(mxc) => mxc,
            Err(e) => {
                return self
                    .say(&format!("Could not upload the QR code: {e}"))
                    .await;
            }
        };
        let content = MessageContent {
            kind: MessageKind::Image,
            body: instructions.to_owned(),
            html: None,
            media: Some(Media {
                mxc: Some(mxc),
                url: None,
                filename: "login-qr.png".into(),
                mimetype: Some("image/png".into()),
                size: Some(size),
                data: None,
            }),
            mentions: vec![],
            poll: None,
        };
        let bot = self.host.matrix().bot_intent();
        match &self.qr_event {
            Some(previous) => {
                if let Err(e) = bot
                    .send_message(&self.room, &content, None, Some(previous))
                    .await
                {
                    tracing::error!(error = %e, "could not replace QR code");
                }
            }
            None => match bot.send_message(&self.room, &content, None, None).await {
                Ok(id) => self.qr_event = Some(id),
                Err(e) => tracing::error!(error = %e, "could not post QR code"),
            },
        }
    }

    async fn clear_qr(&mut self) {
        if let Some(id) = self.qr_event.take() {
            let _ = self
                .host
                .matrix()
                .bot_intent()
                .redact(&self.room, &id, Some("login finished"))
                .await;
        }
    }
}
