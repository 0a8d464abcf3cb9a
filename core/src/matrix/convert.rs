//! Conversions between the core's [`crate::events::MessageContent`] and Matrix event content.
//! OWNER: matrix helper.
