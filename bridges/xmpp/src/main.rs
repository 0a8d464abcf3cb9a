//! `ferrybridge-xmpp`: generate-config, generate-registration, check-config, run.

fn main() -> std::process::ExitCode {
    ferrybridge_core::cli::main::<ferrybridge_xmpp::XmppBridge>()
}
