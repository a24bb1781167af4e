"""HugMood's API gateway."""

from gateway.app import create_app, wsgi_app

__all__ = ["create_app", "wsgi_app"]
