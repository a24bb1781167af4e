"""Request and response shapes of the notification service."""
