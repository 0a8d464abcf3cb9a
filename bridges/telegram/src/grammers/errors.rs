//! grammers' errors → [`TgError`], by Telegram's RPC error names.

use std::time::Duration;

use grammers_client::SignInError;
use grammers_mtsender::InvocationError;

use crate::network::TgError;

/// Maps a failed call.
pub fn map_invocation(e: InvocationError) -> TgError {
    match e {
        InvocationError::Rpc(rpc) => {
            let name = rpc.name.as_str();
            if rpc.code == 420
                || name.starts_with("FLOOD_WAIT")
                || name.starts_with("FLOOD_PREMIUM_WAIT")
            {
                return TgError::FloodWait(Duration::from_secs(u64::from(rpc.value.unwrap_or(0))));
            }
            match name {
                "PHONE_NUMBER_INVALID" | "PHONE_NUMBER_UNOCCUPIED" | "PHONE_NUMBER_FLOOD" => {
                    TgError::InvalidPhone
                }
                "PHONE_NUMBER_BANNED" => TgError::PhoneBanned,
                "PHONE_CODE_INVALID" | "PHONE_CODE_EMPTY" => TgError::CodeInvalid,
                "PHONE_CODE_EXPIRED" => TgError::CodeExpired,
                "PASSWORD_HASH_INVALID" => TgError::PasswordInvalid,
                "USERNAME_NOT_OCCUPIED"
                | "USERNAME_INVALID"
                | "PEER_ID_INVALID"
                | "CHAT_ID_INVALID"
                | "CHANNEL_INVALID"
                | "MSG_ID_INVALID" => TgError::NotFound,
                "CHAT_ADMIN_REQUIRED"
                | "CHAT_WRITE_FORBIDDEN"
                | "CHAT_FORBIDDEN"
                | "RIGHT_FORBIDDEN"
                | "USER_ADMIN_INVALID"
                | "USER_CREATOR" => TgError::NotAllowed,
                _ if rpc.code == 401 => TgError::Unauthorized,
                _ => TgError::Other(format!("Telegram error {}: {}", rpc.code, rpc.name)),
            }
        }
        InvocationError::Io(e) => TgError::Network(e.to_string()),
        InvocationError::Transport(e) => TgError::Network(e.to_string()),
        InvocationError::Dropped(what) => TgError::Network(format!("connection dropped ({what})")),
        InvocationError::InvalidDc => TgError::Network("invalid data center".into()),
        e => TgError::Other(e.to_string()),
    }
}

/// Maps a failed sign-in (code step).
pub fn map_sign_in(e: SignInError) -> TgError {
    match e {
        SignInError::InvalidCode => TgError::CodeInvalid,
        SignInError::InvalidPassword(_) => TgError::PasswordInvalid,
        SignInError::SignUpRequired => TgError::Other(
            "this number has no Telegram account yet; sign up in a Telegram app first".into(),
        ),
        SignInError::PasswordRequired(_) => {
            TgError::Other("two-step verification password required".into())
        }
        SignInError::Other(e) => map_invocation(e),
    }
}

#[cfg(test)]
mod tests {
    use grammers_mtsender::RpcError;
    use grammers_tl_types as tl;

    use super::*;

    /// An RPC error as Telegram sends it (`FLOOD_WAIT_42` → name + value).
    fn rpc(code: i32, message: &str) -> InvocationError {
        InvocationError::Rpc(RpcError::from(tl::types::RpcError {
            error_code: code,
            error_message: message.to_owned(),
        }))
    }

    #[test]
    fn login_errors_map_by_name() {
        assert_eq!(
            map_invocation(rpc(400, "PHONE_NUMBER_INVALID")),
            TgError::InvalidPhone
        );
        assert_eq!(
            map_invocation(rpc(400, "PHONE_NUMBER_BANNED")),
            TgError::PhoneBanned
        );
        assert_eq!(
            map_invocation(rpc(400, "PHONE_CODE_INVALID")),
            TgError::CodeInvalid
        );
        assert_eq!(
            map_invocation(rpc(400, "PHONE_CODE_EXPIRED")),
            TgError::CodeExpired
        );
        assert_eq!(
            map_invocation(rpc(400, "PASSWORD_HASH_INVALID")),
            TgError::PasswordInvalid
        );
        assert_eq!(
            map_invocation(rpc(400, "USERNAME_NOT_OCCUPIED")),
            TgError::NotFound
        );
    }

    #[test]
    fn group_admin_refusals_say_not_allowed() {
        for name in [
            "CHAT_ADMIN_REQUIRED",
            "USER_ADMIN_INVALID",
            "RIGHT_FORBIDDEN",
        ] {
            assert_eq!(
                map_invocation(rpc(400, name)),
                TgError::NotAllowed,
                "{name}"
            );
        }
        assert_eq!(
            map_invocation(rpc(403, "CHAT_WRITE_FORBIDDEN")),
            TgError::NotAllowed
        );
    }

    #[test]
    fn flood_wait_carries_its_duration() {
        assert_eq!(
            map_invocation(rpc(420, "FLOOD_WAIT_42")),
            TgError::FloodWait(Duration::from_secs(42))
        );
        assert_eq!(
            map_invocation(rpc(420, "FLOOD_PREMIUM_WAIT_7")),
            TgError::FloodWait(Duration::from_secs(7))
        );
    }

    #[test]
    fn unauthorized_io_and_unknown() {
        assert_eq!(
            map_invocation(rpc(401, "AUTH_KEY_UNREGISTERED")),
            TgError::Unauthorized
        );
        assert!(matches!(
            map_invocation(InvocationError::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused
            ))),
            TgError::Network(_)
        ));
        assert!(matches!(
            map_invocation(InvocationError::Dropped("x")),
            TgError::Network(_)
        ));
        assert_eq!(
            map_invocation(rpc(400, "MESSAGE_TOO_LONG")),
            TgError::Other("Telegram error 400: MESSAGE_TOO_LONG".into())
        );
    }

    #[test]
    fn sign_in_errors() {
        assert_eq!(map_sign_in(SignInError::InvalidCode), TgError::CodeInvalid);
        assert_eq!(
            map_sign_in(SignInError::Other(rpc(400, "PHONE_CODE_EXPIRED"))),
            TgError::CodeExpired
        );
        assert!(matches!(
            map_sign_in(SignInError::SignUpRequired),
            TgError::Other(_)
        ));
    }
}
