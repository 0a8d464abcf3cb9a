//! `ferrybridge-whatsapp`: the WhatsApp bridge binary (whatsapp-rust devices).

fn main() -> std::process::ExitCode {
    ferrybridge_core::cli::main::<ferrybridge_whatsapp::WhatsAppBridge>()
}
