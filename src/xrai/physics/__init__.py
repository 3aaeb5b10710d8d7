"""xrai.physics."""
