"""Scripts run by the benchmark peers' own interpreters (`benchmarks/peer_env.py`), never imported here."""
