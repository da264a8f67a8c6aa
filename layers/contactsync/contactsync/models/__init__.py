"""Wire models, kept apart by role: what comes in, what goes out, what travels on queues."""
