"""No Celery tasks: the auth service consumes no events (it erases its own rows in delete_account)."""
