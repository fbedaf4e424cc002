"""The ``readiness`` fixture: how a check records metrics, warnings and sharper remediations.

What a check records lives in a :class:`CheckRuntime` on the item; the plugin copies it onto
each test report as plain JSON data, so it survives the trip from an xdist worker.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from _pytest.outcomes import Skipped

from .attestations import DEFAULT_FILE, Attestation
from .profiles.protocol import BotProfile
from .redact import Redactor
from .settings import Settings, how_to_set
from .spec import CheckSpec


class NotApplicable(Skipped):
    """Raised by :meth:`CheckContext.not_applicable`; a skip that the score leaves out."""


class Blocked(Skipped):
    """Raised before a check whose dependency already did not pass; it ends ``blocked``."""


@dataclass(slots=True)
class CheckRuntime:
    """What one check recorded while it ran."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    remediation: str | None = None
    kind: str | None = None  # "not_applicable" | "blocked" once the check ended that way
    reason: str = ""  # why it ended that way
    blocked_by: list[str] = field(default_factory=list)
    #: The variables whose absence decided the outcome: the reports fold such checks into one cause.
    unset: list[str] = field(default_factory=list)
    #: What the check judged, for the sign-off (a drill run, who attested a step): plain JSON.
    evidence: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "metrics": list(self.metrics),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "remediation": self.remediation,
            "kind": self.kind,
            "reason": self.reason,
            "blocked_by": list(self.blocked_by),
            "unset": list(self.unset),
            "evidence": self.evidence,
        }


@dataclass(frozen=True, slots=True)
class RunView:
    """What a check may know of the run around it."""

    reports_dir: Path
    started_at: dt.datetime
    #: The drill checks this run selected (``--drill``).
    drills: tuple[str, ...] = ()
    #: Outcomes of the checks that finished so far in this process, by id.
    outcomes: Mapping[str, str] = field(default_factory=dict)


class CheckContext:
    """The object the ``readiness`` fixture gives a check."""

    def __init__(
        self,
        spec: CheckSpec,
        runtime: CheckRuntime,
        settings: Settings,
        profile: BotProfile,
        redact: Redactor,
        run: RunView,
        *,
        attestations: Iterable[Attestation] = (),
        attestation_file: Path | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.run = run
        #: How to read this bot (``READINESS_BOT_PROFILE``).
        self.profile = profile
        #: Where the run reads attestations from; it may not exist yet (then nothing is attested).
        self.attestation_file = attestation_file if attestation_file is not None else Path(DEFAULT_FILE)
        #: The run's date, which an attestation's expiry is judged against.
        self.today = run.started_at.astimezone().date()
        self._attestations = {attestation.id: attestation for attestation in attestations}
        self._runtime = runtime
        self._redact = redact

    def metric(self, name: str, value: float, unit: str = "", threshold: float | None = None) -> None:
        """Record a measured figure (shown against ``threshold`` in the reports)."""
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"metric {name!r}: value must be finite, got {value!r}")
        self._runtime.metrics.append(
            {
                "name": self._redact(str(name)),
                "value": number,
                "unit": str(unit),
                "threshold": None if threshold is None else float(threshold),
            }
        )

    def warn(self, message: str) -> None:
        """Let a passing check end ``warned``: it works, but someone should look."""
        self._runtime.warnings.append(self._redact(str(message)))

    def note(self, message: str) -> None:
        """Say something the report should show without judging it (a passing check stays passed)."""
        self._runtime.notes.append(self._redact(str(message)))

    def evidence(self, **fields: str | float | bool | None) -> None:
        """Name what the verdict rests on (a report's SHA-256, who attested a step), whatever the
        outcome: the sign-off shows it next to the check."""
        redact = self._redact
        self._runtime.evidence = {name: redact(v) if isinstance(v, str) else v for name, v in fields.items()}

    def attestation(self, check_id: str) -> Attestation | None:
        """What the run's attestation file says a person confirmed for ``check_id``, if anything."""
        return self._attestations.get(check_id)

    def not_applicable(self, reason: str) -> NoReturn:
        """End the check ``not_applicable`` (it leaves the score), e.g. no /sapi on testnet."""
        self._runtime.kind, self._runtime.reason = "not_applicable", self._redact(str(reason))
        raise NotApplicable(self._runtime.reason)

    def fail(self, message: str, *, remediation: str | None = None, unset: Iterable[str] = ()) -> NoReturn:
        """Fail with a remediation sharper than the marker's (e.g. per Binance error code).

        Called from an ``except`` block, the failure stands alone: the summary shows the message,
        not "during handling of the above exception" and the probe error it already describes.
        ``unset`` names the variables whose absence is the failure (the reports fold it with the
        checks skipped for want of them).
        """
        self._runtime.unset = list(unset)
        if remediation is not None:
            self._runtime.remediation = self._redact(remediation)
        raise pytest.fail.Exception(self._redact(message), pytrace=False) from None

    @staticmethod
    def variables(*names: str) -> str:
        """The variables an operator sets for these settings, for messages ("A and B")."""
        return " and ".join(Settings.env_name(name) for name in names)

    def require_audit_trail(self) -> None:
        """End not applicable when the bot keeps no audit trail; skip unless it is configured."""
        if self.profile.no_audit_trail:
            self.not_applicable(self.profile.no_audit_trail)
        self.require("audit_trail")

    def require(self, *names: str) -> None:
        """Skip, naming the exact variables to set, unless these settings are configured."""
        missing = [Settings.env_name(n) for n in names if getattr(self.settings, n) in (None, "")]
        if missing:
            self._runtime.unset = missing
            self._runtime.remediation = how_to_set(missing, self.settings.env_file)
            pytest.skip(f"not configured: set {', '.join(missing)}")
