"""Request and response shapes of the mood service."""
