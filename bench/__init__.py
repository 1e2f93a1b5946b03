"""Benchmarks (`make bench`, `python -m bench.run`) and the load generator; results go to bench/results/.

Imports the shop through testkit (servers) and its own modules; nothing imports bench.
"""
