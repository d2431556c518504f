"""Where answers read from: collectors (one, or a fleet in parallel), Prometheus, the Hub."""
