//! The `ferrybridge-irc` binary.

use std::process::ExitCode;

use ferrybridge_irc::IrcBridge;

fn main() -> ExitCode {
    ferrybridge_core::cli::main::<IrcBridge>()
}
