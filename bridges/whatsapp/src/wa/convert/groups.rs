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

/// Why WhatsApp did not add a member (`None`: added, or already in the group).
pub fn addition_refusal(answers: &[ParticipantChangeResponse]) -> Option<WaError> {
    let code = answers.iter().find_map(|a| a.error.as_deref())?;
    let why = match code {
        "409" => return None,
        "401" => "only group admins can add members".to_owned(),
        // WhatsApp answers with an invite request instead: their privacy settings.
        "403" => {
            "their privacy settings do not let others add them; send them an invite link".to_owned()
        }
        "408" => "they left the group recently and cannot be added back yet".to_owned(),
        "500" => "the group is full".to_owned(),
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

    #[test]
    fn additions_refused_say_why_and_members_already_in_are_added() {
        assert_eq!(addition_refusal(&[answer(None)]), None);
        assert_eq!(addition_refusal(&[answer(Some("409"))]), None);
        assert!(matches!(
            addition_refusal(&[answer(Some("403"))]),
            Some(WaError::Refused(why)) if why.contains("privacy")
        ));
        assert_eq!(
            addition_refusal(&[answer(Some("401"))]),
            Some(WaError::Refused("only group admins can add members".into()))
        );
    }
}
