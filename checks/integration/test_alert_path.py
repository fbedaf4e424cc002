"""Integration layer: a critical alert, formatted as the bot formats it, reaches the alert chat.

The plain message of ``telegram.delivery_latency`` proves the chat is reachable; this one proves
the formatting survives the Bot API (parse_mode=HTML), where a bad escape loses the alert.
"""

from __future__ import annotations

import pytest

from readiness.context import CheckContext
from readiness.probes import telegram
from readiness.probes.network import ProbeSet

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.readiness(
    id="integration.alert_path",
    layer="integration",
    tier=1,
    title="A formatted critical alert is delivered within the latency limit",
    remediation="Fix the alert formatter (parse_mode=HTML: escape <, > and & in dynamic values, close "
    "every tag) and the network path to TELEGRAM_API_URL; see the API's answer in the message.",
    depends=("telegram.delivery_latency",),
)
async def test_alert_path(readiness: CheckContext, probes: ProbeSet) -> None:
    readiness.require("telegram_bot_token", "telegram_chat_id")
    answer = await telegram.await_answer(probes, readiness, "telegram.send_alert")
    if not answer.ok:
        readiness.fail(answer.summary, remediation=telegram.diagnose(answer))
    limit = readiness.settings.telegram_max_s
    readiness.metric("alert round trip", round(answer.elapsed_s, 3), unit="s", threshold=limit)
    if answer.elapsed_s > limit:
        readiness.fail(f"alert delivered in {answer.elapsed_s:.2f} s, over the {limit:g} s limit")
    entities = answer.result.get("entities", []) if isinstance(answer.result, dict) else []
    if not any(isinstance(e, dict) and e.get("type") == "bold" for e in entities):
        readiness.warn("the alert arrived without its bold CRITICAL marker: its formatting was lost")
