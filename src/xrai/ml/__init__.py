"""xrai.ml."""
