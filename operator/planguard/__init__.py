"""planguard: DNS plan automation and node lease management that fail safe."""

__version__ = "0.1.0"
