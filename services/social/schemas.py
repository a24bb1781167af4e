"""Request and response shapes of the social service."""
