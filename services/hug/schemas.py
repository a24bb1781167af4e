"""Request and response shapes of the hug service."""
