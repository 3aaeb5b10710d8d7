"""xrai.testing."""
