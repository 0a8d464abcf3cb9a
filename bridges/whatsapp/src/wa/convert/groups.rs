//! WhatsApp's answers to group changes made on Matrix, as the bridge's errors.

use whatsapp_rust::features::ParticipantChangeResponse;

use crate::network::WaError;

/// Why WhatsApp did not remove a member, from its per-participant answer (`None`: removed).
/// WhatsApp answers HTTP-like codes per participant instead of failing the request.
pub fn participant_refusal(answers: &[ParticipantChangeResponse]) -> Option<WaError> {
    let code = answers.iter().find_map(|a| a.error.as_deref())?;
    let why = match code {
        "401" | "403" => "only group admins can remove members".to_owned(),
        "404" => "they are not in this group".to_owned(),
        "406" => "the group's creator cannot be removed".to_owned(),
        other => format!("WhatsApp answered {other}"),
    };
    Some(WaError::Refused(why))
}

#[cfg(test)]
mod tests {
    use whatsapp_rust::NodeBuilder;
    use whatsapp_rust::wacore::protocol::ProtocolNode;

    use super::*;

    /// One `<participant>` of WhatsApp's answer, parsed by the library as it parses the server's.
    fn answer(error: Option<&str>) -> ParticipantChangeResponse {
        let mut node = NodeBuilder::new("participant").attr("jid", "441111111@s.whatsapp.net");
        if let Some(e) = error {
            node = node.attr("error", e);
        }
        ParticipantChangeResponse::try_from_node(&node.build()).expect("a participant node")
    }

    #[test]
    fn removals_refused_per_participant_say_why() {
        assert_eq!(participant_refusal(&[answer(None)]), None);
        assert_eq!(participant_refusal(&[]), None);
        assert_eq!(
            participant_refusal(&[answer(Some("403"))]),
            Some(WaError::Refused(
                "only group admins can remove members".into()
            ))
        );
        assert_eq!(
            participant_refusal(&[answer(Some("404"))]),
            Some(WaError::Refused("they are not in this group".into()))
        );
        assert_eq!(
            participant_refusal(&[answer(Some("500"))]),
            Some(WaError::Refused("WhatsApp answered 500".into()))
        );
    }
}
