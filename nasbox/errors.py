"""nasbox's exceptions: one base class, a subclass per kind of user error.

The CLI turns any :class:`NasboxError` into ``error: <message>`` and exit code 2. Errors
that are also plain value errors derive from ``ValueError`` so that Python callers can
catch them the usual way.
"""

from __future__ import annotations

__all__ = [
    "CANDIDATE_ERRORS",
    "STUDY_FAULTS",
    "ConfigError",
    "DataError",
    "DiskFullError",
    "EvaluationError",
    "NasboxError",
    "ShapeError",
    "SpaceError",
    "StorageError",
    "TrainingError",
]


class NasboxError(Exception):
    """Base class of every error nasbox reports to a user."""


class SpaceError(NasboxError, ValueError):
    """A search space is unknown, misconfigured, or breaks a design rule."""


class ShapeError(NasboxError, ValueError):
    """A genotype is invalid for its input: a feature map vanishes, channels do not chain."""


class ConfigError(NasboxError, ValueError):
    """Bad command-line or API input (budget, objectives, sampler, files)."""


class DataError(NasboxError):
    """A dataset is missing, corrupt or unsafe to load."""


class StorageError(NasboxError):
    """A study's storage cannot be reached, or holds an incompatible study."""


class DiskFullError(NasboxError, OSError):
    """A file could not be written because its disk (or quota) is full; nothing written before was lost.

    It is an :class:`OSError` too (``errno`` ENOSPC), so that code catching write failures the usual way
    still does; its text is the message alone.
    """

    def __str__(self) -> str:
        return str(self.strerror if self.strerror is not None else super().__str__())


class TrainingError(NasboxError):
    """A candidate failed to train (non-finite loss, out of memory)."""


class EvaluationError(TrainingError):
    """A candidate could not be scored by its evaluator (not in the evaluator's table, say)."""


#: what a candidate that fails raises (its own failure: recorded on its trial, and the search goes on) ...
CANDIDATE_ERRORS: tuple[type[BaseException], ...] = (NasboxError, RuntimeError, ValueError, MemoryError)
#: ... except these, which are the study's own storage or disk failing: the search stops, the study intact
STUDY_FAULTS: tuple[type[BaseException], ...] = (StorageError, DiskFullError)
