"""Request and response shapes of the user service."""
