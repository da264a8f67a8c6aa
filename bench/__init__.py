"""Benchmarks of contactsync against the local stack: `python -m bench.run_bench [--smoke]`.

Never imported by the product; every figure is a ratio to a reference measured in the same run.
"""
