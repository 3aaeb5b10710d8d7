"""xrai.tomo."""
