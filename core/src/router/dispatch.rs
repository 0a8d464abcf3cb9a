//! Running one command line: parse, look up, check permission, run, reply.

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};

use crate::commands::{CommandContext, CommandError, Reply, parse_command};
use crate::context::Core;

/// Handles a message that may be a command. Lines that are not commands (no prefix outside the
/// management room) are ignored; everything else gets an answer.
pub(crate) async fn run_command_line(
    core: &Core,
    sender: &OwnedUserId,
    room: &OwnedRoomId,
    event_id: &OwnedEventId,
    body: &str,
    is_management: bool,
) {
    let host = &core.host;
    let prefix = host.command_prefix();
    let reply = |text: String| async move {
        if let Err(e) = host.notices().send(room, &text, None, Some(event_id)).await {
            tracing::error!(error = %e, "could not send command reply");
        }
    };
    let parsed = match parse_command(body, prefix, is_management) {
        None => return,
        Some(Err(e)) => return reply(format!("Could not read that command: {e}.")).await,
        Some(Ok(parsed)) => parsed,
    };
    let help = if is_management {
        "help".to_owned()
    } else {
        format!("{prefix}help")
    };
    let Some(command) = core.registry.get(&parsed.name) else {
        return reply(format!(
            "Unknown command `{}`. Send `{help}` for the list of commands.",
            parsed.name
        ))
        .await;
    };
    let spec = command.spec();
    let level = host.permissions().level_of(sender);
    if let Some(refusal) = spec.refusal(level, is_management) {
        return reply(refusal).await;
    }
    let ctx = CommandContext {
        host: host.clone(),
        network: core.network.clone(),
        logins: core.logins.clone(),
        sender: sender.clone(),
        room_id: room.clone(),
        event_id: event_id.clone(),
        is_management,
        level,
        registry: core.registry.clone(),
    };
    tracing::info!(command = spec.name, %sender, "running command");
    match command.run(&ctx, parsed.args).await {
        Ok(Reply::Notice { text, html }) => {
            if let Err(e) = host
                .notices()
                .send(room, &text, html.as_deref(), Some(event_id))
                .await
            {
                tracing::error!(error = %e, "could not send command reply");
            }
        }
        Ok(Reply::Silent) => {}
        Err(CommandError::Usage(msg)) => {
            let shown = if is_management { "" } else { prefix };
            reply(format!(
                "{msg}\nUsage: `{shown}{} {}`",
                spec.name, spec.usage
            ))
            .await
        }
        Err(e) => reply(e.to_string()).await,
    }
}
