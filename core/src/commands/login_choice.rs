//! `--login N`: which of the sender's logins a command acts through, on networks where a user
//! may hold several ([`crate::seam::Capabilities::multiple_logins`]). One parser, so every
//! command spells it the same way; without it a command uses the sender's first login.

use crate::commands::CommandError;
use crate::ids::LoginSlot;

/// Takes `--login N` or `--login=N` out of `args`, wherever it stands.
pub fn take_login(args: &mut Vec<String>) -> Result<Option<LoginSlot>, CommandError> {
    let Some(at) = args
        .iter()
        .position(|a| a == "--login" || a.starts_with("--login="))
    else {
        return Ok(None);
    };
    let flag = args.remove(at);
    let value = match flag.strip_prefix("--login=") {
        Some(v) => v.to_owned(),
        None if at < args.len() => args.remove(at),
        None => {
            return Err(CommandError::Usage(
                "`--login` needs a login number (`list-logins` shows yours).".into(),
            ));
        }
    };
    if args
        .iter()
        .any(|a| a == "--login" || a.starts_with("--login="))
    {
        return Err(CommandError::Usage("Name one login, once.".into()));
    }
    value
        .parse()
        .map(Some)
        .map_err(|e: crate::ids::BadLoginSlot| CommandError::Usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_option_is_taken_out_wherever_it_stands() {
        let mut a = args("+4412 --login 2");
        assert_eq!(take_login(&mut a).unwrap(), LoginSlot::new(2));
        assert_eq!(a, args("+4412"));
        let mut a = args("--login=3 bob hello");
        assert_eq!(take_login(&mut a).unwrap(), LoginSlot::new(3));
        assert_eq!(a, args("bob hello"));
        let mut a = args("bob");
        assert_eq!(take_login(&mut a).unwrap(), None);
        assert_eq!(a, args("bob"));
    }

    #[test]
    fn bad_values_are_usage_errors_and_change_nothing_else() {
        for bad in [
            "--login",
            "--login 0",
            "--login two",
            "--login=-1",
            "--login 2 --login 3",
        ] {
            let mut a = args(bad);
            assert!(
                matches!(take_login(&mut a), Err(CommandError::Usage(_))),
                "{bad}"
            );
        }
    }
}
