//! The one retry policy for every request to the homeserver. OWNER: matrix helper.
