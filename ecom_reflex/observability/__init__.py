"""Metrics, JSON logging and tracing: the one place the rest of the app calls."""
