"""`python -m shared.events dead-letters | retry-dead-letters`: the dead-letter admin commands.

The relay itself runs as `python -m services.relay`, which knows every service's consumers.
"""

from __future__ import annotations

import argparse
import json

from shared.config import DATABASE_SETTINGS, SERVICES, load_config
from shared.events.consumers import DeadLetters, consume_sender, make_celery, service_engines
from shared.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    """List or retry the events consumers gave up on."""
    parser = argparse.ArgumentParser(prog="python -m shared.events")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("dead-letters", help="list events consumers gave up on")
    listing.add_argument("--service", choices=SERVICES, action="append")
    retrying = commands.add_parser("retry-dead-letters", help="send dead-lettered events back to their consumer")
    retrying.add_argument("--service", choices=SERVICES, action="append")
    retrying.add_argument("--id", action="append", default=[], help="only these dead letters (default: all)")
    args = parser.parse_args(argv)

    config = load_config("events-admin", settings=DATABASE_SETTINGS)
    configure_logging("events-admin", config.LOG_LEVEL)
    dead_letters = DeadLetters(service_engines(config))
    for service in args.service or SERVICES:
        if args.command == "dead-letters":
            for row in dead_letters.waiting(service):
                print(json.dumps({**row, "service": service}, default=str))
        else:
            count = dead_letters.retry(service, consume_sender(make_celery(config)), args.id)
            print(json.dumps({"service": service, "retried": count}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
