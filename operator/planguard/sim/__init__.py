"""Deterministic simulation of the enactor/clean-up protocol over an in-memory DNS server:
planguard's protocol (the real core/ step functions) beside the post-mortem's naive one.
Used by `planguard replay`, the exhaustive checker and the randomized schedule tests."""
