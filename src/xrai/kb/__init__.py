"""xrai.kb."""
