//! Drives a [`super::LoginProcess`] from the management room. OWNER: integrator.
