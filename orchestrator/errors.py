"""The few exceptions orch raises; the CLI maps each to an exit code and one line of text."""

from __future__ import annotations


class OrchError(Exception):
    """Base of every error orch reports to the user as one line."""

    exit_code = 1


class ConfigError(OrchError):
    """Bad user input: a malformed space file, an unknown option value, a missing dataset."""

    exit_code = 2


class SubmissionError(OrchError):
    """The scheduler refused a submission (unknown partition, gres, account, limits)."""

    exit_code = 2


class StoreCorrupt(OrchError):
    """A study file (study.json, journal, result, meta-dataset) cannot be read; names the file."""

    exit_code = 1


class StudyLocked(OrchError):
    """Another live controller owns the study."""

    exit_code = 1


class TrialCrashed(OrchError):
    """A trial ended without a usable result; carries the error text and the log paths."""

    def __init__(self, message: str, logs: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.logs = logs


class Interrupted(OrchError):
    """Stopped by Ctrl-C or SIGTERM (scancel) after a clean stop; says how to carry on."""

    exit_code = 130
