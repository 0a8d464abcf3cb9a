//! The one template engine for ghost user IDs, display names, room aliases and nicks.
//! OWNER: commands helper. See the contract in the helper's brief.
