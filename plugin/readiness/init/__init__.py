"""``readiness init``: a new deployment's ``.env`` and setting templates, every credential checked.

The answers are asked for (:mod:`.prompts`) or read from the environment, each checked against
the live API as soon as it is given (:mod:`.validation`), and only once all of them pass are the
files written (:mod:`.writing`, from :mod:`.templates`): an interrupted run leaves nothing behind.
:mod:`.flow` ties the steps together.
"""

from .flow import InitOptions, run

__all__ = ["InitOptions", "run"]
