"""The catalogue of problem codes: what each `type` URI of a problem body points to.

Every error class (a ProblemError subclass with its own `code`) is a page: its docstring says what
the code means and its `advice` what a client should do. A code raised with `code=` rather than a
class of its own is a page in its module's `PROBLEM_PAGES`. The gateway serves the pages of every
module (collected into its OpenAPI document) at `/api/v1/problems/{code}`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

from shared.errors import PROBLEM_BASE, ProblemError


@dataclass(frozen=True)
class ProblemPage:
    """One problem code: its status, title, meaning and what a client should do about it."""

    code: str
    status: int
    title: str
    meaning: str
    advice: str

    @classmethod
    def of(cls, kind: type[ProblemError], code: str | None = None, meaning: str | None = None) -> ProblemPage:
        """The page of an error class (or of `code` raised as that class, with its own meaning)."""
        text = meaning or vars(kind).get("meaning") or inspect.getdoc(kind) or ""
        return cls(code or kind.code, kind.status, kind.title, " ".join(text.split()), kind.advice)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "type": PROBLEM_BASE + self.code}


def page(code: str, kind: type[ProblemError], meaning: str, advice: str | None = None) -> ProblemPage:
    """A page for a code raised as `kind(..., code=code)`."""
    base = ProblemPage.of(kind, code, meaning)
    return base if advice is None else ProblemPage(base.code, base.status, base.title, base.meaning, advice)


def pages_of(module: ModuleType) -> dict[str, ProblemPage]:
    """The pages a module declares: its error classes with a code of their own, and PROBLEM_PAGES."""
    pages: dict[str, ProblemPage] = {}
    for _, kind in inspect.getmembers(module, inspect.isclass):
        if issubclass(kind, ProblemError) and kind.__module__ == module.__name__ and "code" in vars(kind):
            pages[kind.code] = ProblemPage.of(kind)
    for entry in getattr(module, "PROBLEM_PAGES", ()):
        pages[entry.code] = entry
    return pages


def catalogue(modules: Iterable[ModuleType]) -> dict[str, ProblemPage]:
    """Every page of `modules`, by code, sorted."""
    pages: dict[str, ProblemPage] = {}
    for module in modules:
        pages.update(pages_of(module))
    return dict(sorted(pages.items()))
