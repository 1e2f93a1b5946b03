"""Metrics, JSON logging and tracing: the one place the rest of the app calls.

It receives values and imports no db, service, state or offload module (tests/test_layout.py
checks), so every layer may import it. The lifespan that feeds it from the database lives
in ecom_reflex/lifespan.py.
"""
