"""xrai.ops."""
