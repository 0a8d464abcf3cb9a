//! Per-portal ordered queues. OWNER: integrator.
