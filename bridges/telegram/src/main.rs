//! The `ferrybridge-telegram` binary: the core's command line with the Telegram network.

fn main() -> std::process::ExitCode {
    ferrybridge_core::cli::main::<ferrybridge_telegram::TelegramBridge>()
}
