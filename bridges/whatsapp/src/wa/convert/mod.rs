//! Conversions between whatsapp-rust's types and the crate's own, both ways. Pure functions,
//! unit-tested on the library's real types.

mod events;
mod kinds;
mod outbound;
mod received;

pub use events::{Routed, chat_of, group_info, history, phone_of, route};
pub(crate) use outbound::{jid_of, location, media_message, pn, reaction, text};
pub use received::{MediaHandle, body, media_type, message};
