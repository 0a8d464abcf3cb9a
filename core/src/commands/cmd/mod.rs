//! One file per core command. OWNER: integrator.
