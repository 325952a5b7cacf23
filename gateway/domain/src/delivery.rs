//! Delivery state machine (one model for both channels, specs README §2). Owned by the outbox work.
