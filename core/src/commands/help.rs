//! OWNER: commands helper.
