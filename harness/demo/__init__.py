"""Two bundled pipelines to point the harness at: the extractor before and after its outage.

Both turn a sign-up sentence into a :class:`~harness.demo.contract.UserRecord` through the
real openai SDK. :mod:`~harness.demo.naive` is the code that passed ``None`` user ids
downstream; :mod:`~harness.demo.hardened` is the fix. The shipped scenario catalogue
(:func:`catalogue_dir`) runs against both: the naive one breaks exactly the SLOs its
``xfail`` entries name, the hardened one keeps them all.
"""

from __future__ import annotations

from pathlib import Path

NAIVE = "py:harness.demo.naive:extract"
"""Target label of the naive extractor."""
HARDENED = "py:harness.demo.hardened:extract"
"""Target label of the hardened extractor."""
DEFAULT_TARGETS: tuple[str, ...] = (NAIVE, HARDENED)
"""What ``harness run`` exercises when no target is given."""


def catalogue_dir() -> Path:
    """The shipped scenario catalogue: the repository's ``scenarios/`` folder, else package data.

    A source checkout (or editable install) has ``scenarios/`` next to ``pyproject.toml``;
    a wheel carries the same files as ``harness/catalogue/*.yaml``.
    """
    root = Path(__file__).resolve().parents[2]
    repo = root / "scenarios"
    if repo.is_dir() and (root / "pyproject.toml").is_file():
        return repo
    packaged = Path(__file__).resolve().parents[1] / "catalogue"
    return packaged if packaged.is_dir() else repo


SCENARIO_DIR = catalogue_dir()
"""Where the shipped scenario catalogue lives (see :func:`catalogue_dir`)."""

__all__ = ["DEFAULT_TARGETS", "HARDENED", "NAIVE", "SCENARIO_DIR", "catalogue_dir"]
