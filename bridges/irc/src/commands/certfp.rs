//! `certfp [network] [remove]`: the user's TLS client certificate for CertFP / SASL EXTERNAL,
//! made on first use; shows its fingerprint and how to register it with NickServ.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, network};
use crate::bridge::IrcBridge;
use crate::client_cert::{self, ClientCert};

pub struct CertFp(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "certfp",
    aliases: &[],
    section: Section::Auth,
    usage: "[network] [remove]",
    summary: "Show (and make on first use) your IRC client certificate's fingerprint, for NickServ CERT ADD.",
    level: PermissionLevel::User,
    management_only: false,
};

/// What the user needs to register the certificate.
pub fn instructions(network: &str, cert: &ClientCert, created: bool) -> String {
    let fp = cert.sha256();
    let made = if created {
        "Made a client certificate for you"
    } else {
        "Your client certificate"
    };
    format!(
        "{made} on {network}. SHA-256 fingerprint:\n{fp}\n\
         To log in with it, add it to your IRC account while identified: \
         /msg NickServ CERT ADD {fp} (from here: cmd {network} PRIVMSG NickServ :CERT ADD {fp}), \
         then reconnect. Without a stored password (removepass) the bridge logs you in with SASL \
         EXTERNAL; the certificate is presented on every TLS connection either way. \
         Networks that use SHA-512 fingerprints: {}",
        cert.sha512()
    )
}

#[async_trait]
impl Command for CertFp {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let remove = args
            .last()
            .is_some_and(|a| a.eq_ignore_ascii_case("remove"));
        let args = if remove {
            &args[..args.len() - 1]
        } else {
            &args[..]
        };
        let (net, rest) = network(&self.0, args)?;
        if let Some(extra) = rest.first() {
            return Err(CommandError::Usage(format!(
                "Unexpected {extra:?}. Usage: certfp [network] [remove]"
            )));
        }
        let store = ctx.host.store();
        if remove {
            client_cert::remove(store, &ctx.sender, &net.name)
                .await
                .map_err(failed)?;
            return Ok(Reply::text(format!(
                "Removed your client certificate for {}. Remove its fingerprint from NickServ \
                 too (NickServ CERT DEL); certfp makes a new one.",
                net.name
            )));
        }
        if !net.config.tls {
            return Err(failed(format!(
                "{} is not connected with TLS, so a client certificate cannot be presented there.",
                net.name
            )));
        }
        let (cert, created) = client_cert::load_or_create(store, &ctx.sender, &net.name)
            .await
            .map_err(failed)?;
        Ok(Reply::text(instructions(&net.name, &cert, created)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_name_the_fingerprint_and_the_nickserv_command() {
        let cert = ClientCert::generate().unwrap();
        let text = instructions("libera", &cert, true);
        let fp = cert.sha256();
        assert!(
            text.contains(&format!("/msg NickServ CERT ADD {fp}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("cmd libera PRIVMSG NickServ :CERT ADD {fp}")),
            "{text}"
        );
        assert!(text.starts_with("Made a client certificate"), "{text}");
        assert!(instructions("libera", &cert, false).starts_with("Your client certificate"));
    }
}
