"""xrai.pipeline."""
