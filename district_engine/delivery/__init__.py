"""Push: offer events, the outbox's webhook sender with retries, server-sent-event fan-out, broadcasts."""
