"""xrai.api."""
