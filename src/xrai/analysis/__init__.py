"""xrai.analysis."""
