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
    """The shipped scenario catalogue: the package's ``catalogue`` folder, resolved.

    A wheel carries the catalogue as ``harness/catalogue/*.yaml``; in a source checkout (or
    an editable install) ``harness/catalogue`` is a symlink to the top-level ``scenarios/``
    folder, so both resolve to the same files. Where a checkout has no symlinks (Windows
    without developer mode) the checkout's ``scenarios/`` folder is used directly.
    """
    package = Path(__file__).resolve().parents[1]
    packaged = (package / "catalogue").resolve()
    checkout = package.parent / "scenarios"
    if not packaged.is_dir() and checkout.is_dir():
        return checkout
    return packaged


"""Where the shipped scenario catalogue lives (see :func:`catalogue_dir`)."""

__all__ = ["DEFAULT_TARGETS", "HARDENED", "NAIVE", "catalogue_dir"]
