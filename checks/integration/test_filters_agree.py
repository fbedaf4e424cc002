"""Integration: the local filter arithmetic and the exchange's order/test agree on edge orders.

The bot sizes orders from exchangeInfo's filters. If the exchange enforces something else (a
coarser step, another minimum notional), the bot's orders fail live although every unit test
passes. Orders just below, at and above the minimum notional and on/off the step and tick grids
go to ``POST /api/v3/order/test`` (never a live order), and each answer is compared with what
:class:`readiness.probes.binance.SymbolFilters` predicts.
"""

from __future__ import annotations

import pytest

from readiness.context import CheckContext
from readiness.probes import binance
from readiness.probes.network import ProbeSet, ProbeTimeout

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.readiness(
    id="integration.filters_agree",
    layer="integration",
    tier=1,
    title="Local filter validation and order/test agree on edge orders",
    remediation="The exchange enforces other filters than exchangeInfo advertises: refresh the bot's "
    "exchangeInfo cache and make its order sizing use the filters order/test enforces.",
    depends=("binance.order_validation",),
)
async def test_filters_agree(readiness: CheckContext, probes: ProbeSet) -> None:
    readiness.require(*binance.key_settings(readiness.settings))
    try:
        result: binance.Orders | None = await probes.result("binance.edge_orders")
    except ProbeTimeout as exc:
        readiness.fail(f"Binance probe binance.edge_orders: {exc}")
    assert result is not None  # the key is configured: the probe ran
    if isinstance(result.problem, binance.ApiError):
        error = result.problem
        readiness.fail(error.describe(), remediation=binance.remediation_for(error, readiness.settings))
    if result.problem is not None or not result.orders:
        readiness.fail(str(result.problem or "no edge order could be built from the symbol's filters"))
    inconclusive = [order for order in result.orders if not order.conclusive]
    if inconclusive:
        first = inconclusive[0].reply.error
        assert first is not None
        readiness.fail(
            f"order/test answered {len(inconclusive)} edge order(s) with something other than a filter "
            f"verdict, e.g. {inconclusive[0].describe()}: {first.describe()}",
            remediation=binance.remediation_for(first, readiness.settings),
        )
    disagreements = [order for order in result.orders if not order.agrees]
    readiness.metric("edge orders compared", len(result.orders))
    readiness.metric("disagreements", len(disagreements), threshold=0)
    if disagreements:
        details = "; ".join(
            f"{order.describe()}: local filters {_verdict(order.local_violations)}, order/test "
            f"{'accepts' if order.accepted else 'rejects (' + str(order.exchange_filter) + ')'}"
            for order in disagreements
        )
        readiness.fail(f"{len(disagreements)} of {len(result.orders)} edge orders disagree: {details}")


def _verdict(violations: tuple[str, ...]) -> str:
    return f"reject ({', '.join(violations)})" if violations else "accept"
