"""What tests, e2e tests and benchmarks share to run the shop for real: throwaway PostgreSQL,
Redis and shop processes on loopback (servers.py).

Imported by tests/, e2e/ and bench/ only; nothing in ecom_reflex imports it.
"""
