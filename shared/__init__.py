"""HugMood's small common library: plumbing every process needs the same way, no domain code."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("hugmood")
except PackageNotFoundError:  # running from a source tree that was not installed
    VERSION = "0.0.0+source"
