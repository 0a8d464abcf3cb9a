//! Conversions between whatsapp-rust's types and the crate's own, both ways. Pure functions,
//! unit-tested on the library's real types.

mod events;
mod groups;
mod history;
mod kinds;
mod outbound;
mod received;

pub use events::{Routed, chat_of, group_info, phone_of, route};
pub use groups::{addition_refusal, participant_refusal};
pub use history::{history, web_message};
pub use kinds::chosen_options;
pub(crate) use outbound::{jid_of, location, media_message, pn, reaction, text};
pub use received::{MediaHandle, body, media_type, message};
