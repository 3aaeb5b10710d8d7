"""xrai.io."""
