"""The exec worker: one per Docker host, next to the daemon socket it owns."""
