"""Component layer, Telegram: the bot's token, its alert chat, and how fast a message gets there.

Thin checks over the probes of :mod:`readiness.probes.telegram`, all started at session start.
Each depends on the one before, so a revoked token or a Telegram outage reads as one failure.
"""

from __future__ import annotations

import pytest

from readiness.context import CheckContext
from readiness.probes import telegram
from readiness.probes.network import ProbeSet

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.readiness(
    id="telegram.token_valid",
    layer="component",
    tier=1,
    title="The Telegram bot token is valid",
    remediation="Create or copy the bot token again from @BotFather and set TELEGRAM_BOT_TOKEN; "
    "make sure this host reaches TELEGRAM_API_URL.",
    phases=("postdeploy",),
)
async def test_token_valid(readiness: CheckContext, probes: ProbeSet) -> None:
    readiness.require("telegram_bot_token")
    answer = await telegram.await_answer(probes, readiness, "telegram.get_me")
    if not answer.ok:
        readiness.fail(answer.summary, remediation=telegram.diagnose(answer))
    readiness.metric("getMe round trip", round(answer.elapsed_s, 3), unit="s")
    if not (isinstance(answer.result, dict) and answer.result.get("is_bot") is True):
        readiness.fail("getMe answered, but not with a bot account")


@pytest.mark.readiness(
    id="telegram.chat_reachable",
    layer="component",
    tier=1,
    title="The bot can reach the alert chat",
    remediation="Send /start to the bot from the alert chat (or add the bot to the group), "
    "then set TELEGRAM_CHAT_ID to that chat's id.",
    phases=("postdeploy",),
    depends=("telegram.token_valid",),
)
async def test_chat_reachable(readiness: CheckContext, probes: ProbeSet) -> None:
    readiness.require("telegram_bot_token", "telegram_chat_id")
    answer = await telegram.await_answer(probes, readiness, "telegram.get_chat")
    if not answer.ok:
        readiness.fail(answer.summary, remediation=telegram.diagnose(answer))


@pytest.mark.readiness(
    id="telegram.delivery_latency",
    layer="component",
    tier=1,
    title="A message reaches the alert chat within the latency limit",
    remediation="Check the network path to TELEGRAM_API_URL (proxy, firewall, DNS) and Telegram's "
    "status; raise READINESS_TELEGRAM_MAX_S only if slower alerts are acceptable.",
    phases=("postdeploy",),
    depends=("telegram.chat_reachable",),
)
async def test_delivery_latency(readiness: CheckContext, probes: ProbeSet) -> None:
    readiness.require("telegram_bot_token", "telegram_chat_id")
    answer = await telegram.await_answer(probes, readiness, "telegram.send_plain")
    if not answer.ok:
        readiness.fail(answer.summary, remediation=telegram.diagnose(answer))
    limit = readiness.settings.telegram_max_s
    readiness.metric("sendMessage round trip", round(answer.elapsed_s, 3), unit="s", threshold=limit)
    if answer.elapsed_s > limit:
        readiness.fail(f"sendMessage round trip {answer.elapsed_s:.2f} s, over the {limit:g} s limit")
