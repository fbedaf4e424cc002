"""The Telegram emulator, driven over loopback by httpx exactly as a real client drives the API."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any

import httpx
import pytest

from readiness.sandbox.server import BackgroundServer
from readiness.sandbox.telegram import (
    FAULTS,
    RATE_LIMIT_RETRY_AFTER,
    SLOW_SEND_S,
    TOKEN_PATTERN,
    EntityParseError,
    TelegramEmulator,
    generate_token,
    parse_html,
    parse_markdown,
    parse_markdown_v2,
)

from .telegram_helpers import GROUP, Running, StartTelegram, assert_error

# --- endpoints -------------------------------------------------------------------------------


def test_get_me_answers_the_bot_user(tg: Running, client: httpx.Client) -> None:
    response = client.get(tg.api("getMe"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["ok"] is True
    assert body["result"] == {
        "id": tg.emulator.bot_id,
        "is_bot": True,
        "first_name": "Readiness Sandbox",
        "username": "readiness_sandbox_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "supports_guest_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
        "has_topics_enabled": False,
        "allows_users_to_create_topics": False,
        "can_manage_bots": False,
    }
    assert str(body["result"]["id"]) == tg.emulator.token.split(":")[0]
    assert tg.emulator.env(tg.url) == {
        "TELEGRAM_BOT_TOKEN": tg.emulator.token,
        "TELEGRAM_CHAT_ID": str(GROUP),
        "TELEGRAM_API_URL": tg.url,
    }


@pytest.mark.parametrize(
    ("chat_id", "chat_type", "name_field"),
    [
        (GROUP, "supergroup", "title"),
        (-4012345678, "group", "title"),
        (123456789, "private", "first_name"),
    ],
)
def test_get_chat_answers_chat_full_info(
    start_telegram: StartTelegram,
    client: httpx.Client,
    chat_id: int,
    chat_type: str,
    name_field: str,
) -> None:
    running = start_telegram(chat_id=chat_id, chat_title="Ops")
    result = client.get(running.api("getChat"), params={"chat_id": chat_id}).json()["result"]
    assert result["id"] == chat_id
    assert result["type"] == chat_type
    assert result[name_field] == "Ops"
    assert isinstance(result["accent_color_id"], int)
    assert isinstance(result["max_reaction_count"], int)


def test_send_message_answers_a_message_and_records_it(tg: Running, client: httpx.Client) -> None:
    before_mono, before_wall = time.monotonic(), time.time()
    first = client.post(tg.api("sendMessage"), json={"chat_id": GROUP, "text": "hello"}).json()
    second = client.post(tg.api("sendMessage"), json={"chat_id": GROUP, "text": "again"}).json()
    after_mono = time.monotonic()
    message = first["result"]
    assert first["ok"] is True
    assert set(message) == {"message_id", "from", "chat", "date", "text"}
    assert message["from"] == {
        "id": tg.emulator.bot_id,
        "is_bot": True,
        "first_name": "Readiness Sandbox",
        "username": "readiness_sandbox_bot",
    }
    assert message["chat"] == {"id": GROUP, "title": "Readiness Alerts", "type": "supergroup"}
    assert message["text"] == "hello"
    assert int(before_wall) <= message["date"] <= time.time()
    assert second["result"]["message_id"] == message["message_id"] + 1

    delivered = tg.emulator.delivered()
    assert [m.text for m in delivered] == ["hello", "again"]
    record = delivered[0]
    assert record.message_id == message["message_id"]
    assert record.chat_id == GROUP
    assert record.parse_mode is None
    assert record.disable_notification is False
    assert before_mono <= record.received_monotonic <= delivered[1].received_monotonic <= after_mono
    assert before_wall <= record.received_at <= time.time()


@pytest.mark.parametrize(
    "transport",
    [
        "get-query",
        "post-query",
        "form",
        "multipart",
        "json",
        "json-string-chat-id",
        "query-and-form",
    ],
)
def test_send_message_reads_every_parameter_transport(
    tg: Running, client: httpx.Client, transport: str
) -> None:
    url = tg.api("sendMessage")
    fields = {"chat_id": str(GROUP), "text": "via " + transport, "disable_notification": "true"}
    if transport == "get-query":
        response = client.get(url, params=fields)
    elif transport == "post-query":
        response = client.post(url, params=fields)
    elif transport == "form":
        response = client.post(url, data=fields)
    elif transport == "multipart":
        response = client.post(url, files={k: (None, v) for k, v in fields.items()})
    elif transport == "json":
        response = client.post(url, json={**fields, "chat_id": GROUP, "disable_notification": True})
    elif transport == "json-string-chat-id":
        response = client.post(url, json=fields)
    else:
        response = client.post(url, params={"chat_id": GROUP}, data={"text": fields["text"]})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["text"] == "via " + transport
    (message,) = tg.emulator.delivered()
    assert message.text == "via " + transport
    assert message.disable_notification is (transport != "query-and-form")


@pytest.mark.parametrize("method", ["SENDMESSAGE", "sendmessage", "SendMessage"])
def test_method_names_are_case_insensitive(tg: Running, client: httpx.Client, method: str) -> None:
    assert client.post(tg.api(method), data={"chat_id": GROUP, "text": "x"}).status_code == 200
    assert client.get(tg.api("GETME")).json()["ok"] is True
    assert client.get(tg.api("getchat"), params={"chat_id": GROUP}).status_code == 200
    assert tg.emulator.requests()[0].api_method == "sendMessage"


@pytest.mark.parametrize(
    ("parse_mode", "text", "plain", "entities"),
    [
        (
            "HTML",
            "<b>KILL SWITCH</b> on <i>BTCUSDT</i> &lt;3 <a href='example.com'>log</a>",
            "KILL SWITCH on BTCUSDT <3 log",
            [
                {"type": "bold", "offset": 0, "length": 11},
                {"type": "italic", "offset": 15, "length": 7},
                {"type": "text_link", "offset": 26, "length": 3, "url": "http://example.com/"},
            ],
        ),
        ("html", "<code>x</code>", "x", [{"type": "code", "offset": 0, "length": 1}]),
        (
            "MarkdownV2",
            "*loss* 12\\.5 USDT __now__",
            "loss 12.5 USDT now",
            [
                {"type": "bold", "offset": 0, "length": 4},
                {"type": "underline", "offset": 15, "length": 3},
            ],
        ),
        ("Markdown", "_warn_ a.b", "warn a.b", [{"type": "italic", "offset": 0, "length": 4}]),
        ("", "<b>raw</b>", "<b>raw</b>", None),
    ],
)
def test_parse_mode_yields_plain_text_and_entities(
    tg: Running,
    client: httpx.Client,
    parse_mode: str,
    text: str,
    plain: str,
    entities: list[dict[str, Any]] | None,
) -> None:
    payload = {"chat_id": GROUP, "text": text, "parse_mode": parse_mode}
    result = client.post(tg.api("sendMessage"), json=payload).json()["result"]
    assert result["text"] == plain
    assert result.get("entities") == entities
    (message,) = tg.emulator.delivered()
    assert (message.text, message.plain_text) == (text, plain)
    assert message.parse_mode == ({"html": "HTML", "": None}.get(parse_mode, parse_mode))


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "description"),
    [
        ("/bot{wrong}/getMe", {}, 401, "Unauthorized"),
        ("/bot{wrong}/sendMessage", {"chat_id": GROUP, "text": "x"}, 401, "Unauthorized"),
        ("/bot{token}/getUpdatez", {}, 404, "Not Found"),
        ("/bot{token}/", {}, 404, "Not Found"),
        ("/bot{token}/getMe/extra", {}, 404, "Not Found"),
        ("/", {}, 404, "Not Found"),
        ("/getMe", {}, 404, "Not Found"),
        ("/bot{token}/getChat", {"chat_id": 42}, 400, "Bad Request: chat not found"),
        ("/bot{token}/getChat", {"chat_id": "@nobody"}, 400, "Bad Request: chat not found"),
        ("/bot{token}/getChat", {}, 400, "Bad Request: chat_id is empty"),
        (
            "/bot{token}/sendMessage",
            {"chat_id": 42, "text": "x"},
            400,
            "Bad Request: chat not found",
        ),
        ("/bot{token}/sendMessage", {"text": "x"}, 400, "Bad Request: chat_id is empty"),
        ("/bot{token}/sendMessage", {"chat_id": GROUP}, 400, "Bad Request: message text is empty"),
        (
            "/bot{token}/sendMessage",
            {"chat_id": GROUP, "text": " \n "},
            400,
            "Bad Request: message text is empty",
        ),
        (
            "/bot{token}/sendMessage",
            {"chat_id": GROUP, "text": "<b></b>", "parse_mode": "HTML"},
            400,
            "Bad Request: message text is empty",
        ),
        (
            "/bot{token}/sendMessage",
            {"chat_id": GROUP, "text": "x", "parse_mode": "BBCode"},
            400,
            "Bad Request: unsupported parse_mode",
        ),
        (
            "/bot{token}/sendMessage",
            {"chat_id": GROUP, "text": "x" * 4097},
            400,
            "Bad Request: message is too long",
        ),
        (
            "/bot{token}/sendMessage",
            {"chat_id": GROUP, "text": "<b>BTC</b> <3 <foo>", "parse_mode": "HTML"},
            400,
            'Bad Request: can\'t parse entities: Unsupported start tag "3" at byte offset 11',
        ),
        (
            "/bot{token}/sendMessage",
            {"chat_id": GROUP, "text": "<b>unclosed", "parse_mode": "HTML"},
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
        ),
        (
            "/bot{token}/sendMessage",
            {"chat_id": GROUP, "text": "<b>x</i>", "parse_mode": "HTML"},
            400,
            "Bad Request: can't parse entities: Unmatched end tag at byte offset 4, "
            'expected "</b>", found "</i>"',
        ),
        (
            "/bot{token}/sendMessage",
            {"chat_id": GROUP, "text": "PnL 1.5", "parse_mode": "MarkdownV2"},
            400,
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped "
            "with the preceding '\\'",
        ),
        (
            "/bot{token}/sendMessage",
            {"chat_id": GROUP, "text": "a *b", "parse_mode": "Markdown"},
            400,
            "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 2",
        ),
    ],
)
def test_error_answers_match_the_real_api(
    tg: Running,
    client: httpx.Client,
    path: str,
    params: dict[str, Any],
    status: int,
    description: str,
) -> None:
    wrong = generate_token()
    url = tg.url + path.format(token=tg.emulator.token, wrong=wrong)
    body = assert_error(client.post(url, json=params), status, description)
    assert set(body) == {"ok", "error_code", "description"}
    assert tg.emulator.delivered() == []
    assert [(r.http_method, r.status) for r in tg.emulator.requests()] == [("POST", status)]


def test_malformed_json_body_is_a_bad_request(tg: Running, client: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    for body in (b"{", b"[1]"):
        response = client.post(tg.api("sendMessage"), content=body, headers=headers)
        assert_error(response, 400, "Bad Request: can't parse JSON object")


def test_requests_are_recorded_with_method_and_status(tg: Running, client: httpx.Client) -> None:
    client.get(tg.api("getMe"))
    client.post(tg.api("GETCHAT"), data={"chat_id": GROUP})
    client.get(tg.api("getMe", token=generate_token()))
    client.put(tg.api("nope"))
    seen = [(r.api_method, r.http_method, r.status) for r in tg.emulator.requests()]
    assert seen == [
        ("getMe", "GET", 200),
        ("getChat", "POST", 200),
        ("getMe", "GET", 401),
        ("nope", "PUT", 404),
    ]
    tg.emulator.clear()
    assert tg.emulator.requests() == [] and tg.emulator.delivered() == []


# --- parse_mode parsers against TDLib's own test cases ---------------------------------------

STADIUM = "🏟 🏟"


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        (
            "&#57311;",
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units",
        ),
        (STADIUM + "&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        (STADIUM + "&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        (STADIUM + "&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
        (STADIUM + "&lt;<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'),
        (STADIUM + "&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        (
            STADIUM + "&lt;<i    aba  =  190azAz-.,",
            "Unexpected end of name token at byte offset 27",
        ),
        (STADIUM + '&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
        (STADIUM + "&lt;</", "Unexpected end tag at byte offset 13"),
        (STADIUM + "&lt;<b></b></", "Unexpected end tag at byte offset 20"),
        (STADIUM + "&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        (
            STADIUM + "&lt;<i>a</em   >",
            'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"',
        ),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("a << b", 'Unsupported start tag "<" at byte offset 2'),
    ],
)
def test_html_errors_match_tdlib(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as raised:
        parse_html(markup)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        (
            "&ge;&lt;&gt;&amp;&quot;&laquo;&raquo;&#12345678;",
            '&ge;<>&"&laquo;&raquo;&#12345678;',
            [],
        ),
        (
            "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>",
            "🏟 🏟🏟 ><🏟",
            [("italic", 5, 7), ("bold", 9, 3)],
        ),
        ("🏟 🏟&lt;<i    aba  =  '&lt;&gt;&quot;'>a</>", "🏟 🏟<a", [("italic", 6, 1)]),
        (
            "<code><i><b> </b></i></code><i><b><code> </code></b></i>",
            "  ",
            [
                *[("code", 0, 1), ("bold", 0, 1), ("italic", 0, 1)],
                *[("code", 1, 1), ("bold", 1, 1), ("italic", 1, 1)],
            ],
        ),
        ("<a>telegram.org </a>", "telegram.org ", []),
        ("<a>telegram.org</a>", "telegram.org", [("text_link", 0, 12)]),
        ("🏟 🏟&lt;<pre><code>🏟 🏟&lt;</code></>", "🏟 🏟<🏟 🏟<", [("pre", 6, 6), ("code", 6, 6)]),
        ('🏟 🏟&lt;<pre><code class="language-fift">🏟 🏟&lt;</></>', "🏟 🏟<🏟 🏟<", [("pre", 6, 6)]),
        (
            '<pre><code class="language-fift">🏟 🏟&lt;</> </>',
            "🏟 🏟< ",
            [("pre", 0, 7), ("code", 0, 6)],
        ),
        ('<span class = "tg-spoiler">➡️</span><b>x</b>', "➡️x", [("spoiler", 0, 2), ("bold", 2, 1)]),
        (
            "<blockquote expandable>a&lt;<pre  >b;</></>",
            "a<b;",
            [("expandable_blockquote", 0, 4), ("pre", 2, 2)],
        ),
    ],
)
def test_html_entities_match_tdlib(markup: str, text: str, entities: list[tuple[str, int, int]]) -> None:
    plain, parsed = parse_html(markup)
    assert plain == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


def test_html_keeps_link_targets_and_languages() -> None:
    _, links = parse_html("<a   href=  'telegram.org?&lt;'   > </a>")
    assert links[0]["url"] == "http://telegram.org/?<"
    _, pre = parse_html('<pre><code class="language-python">x = 1</code></pre>')
    assert pre == [{"type": "pre", "offset": 0, "length": 5, "language": "python"}]


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        (STADIUM + "_abacaba", "Can't find end of Italic entity at byte offset 9"),
        (STADIUM + "_abac * asd ", "Can't find end of Bold entity at byte offset 15"),
        (STADIUM + "```a ", "Can't find end of PreCode entity at byte offset 9"),
        (STADIUM + "_🏟 🏟__", "Can't find end of Underline entity at byte offset 19"),
        (STADIUM + "||test\\|", "Can't find end of Spoiler entity at byte offset 9"),
        ("[telegram\\.org](asd\\)", "Can't find end of a URL at byte offset 16"),
        (STADIUM + "!", "Character '!' is reserved and must be escaped with the preceding '\\'"),
        (">\n*a*>2", "Character '>' is reserved and must be escaped with the preceding '\\'"),
        (STADIUM + "![👍]", "The entity must contain a tg://emoji or tg://time URL"),
    ],
)
def test_markdown_v2_errors_match_tdlib(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as raised:
        parse_markdown_v2(markup)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        ("\\\\\\\\\\_\\*\\`", "\\\\_*`", []),
        ("🏟 \\.🏟_🏟\\. 🏟_", "🏟 .🏟🏟. 🏟", [("italic", 6, 6)]),
        ("🏟 🏟__🏟 _🏟_\\___", "🏟 🏟🏟 🏟_", [("underline", 5, 6), ("italic", 8, 2)]),
        ("🏟 🏟```🏟\r\n🏟```", "🏟 🏟🏟", [("pre", 5, 2)]),
        (
            "`_* *_`__*` `*__",
            "_* *_ ",
            [("code", 0, 5), ("code", 5, 1), ("bold", 5, 1), ("underline", 5, 1)],
        ),
        ("[ ](as)", " ", []),
        ("[telegram\\.org]a", "telegram.orga", [("text_link", 0, 12)]),
        ("🏟 🏟![👍](TG://EMoJI/?test=1231&id=25#id=32)a", "🏟 🏟👍a", [("custom_emoji", 5, 2)]),
        ("abc\n> \n> \n>\ndef", "abc\n \n \n\ndef", [("blockquote", 4, 5)]),
        (
            "*a\n>b\n>ld \n>bo\n>ld\nasd*\ndef",
            "a\nb\nld \nbo\nld\nasd\ndef",
            [("bold", 0, 17), ("blockquote", 2, 12)],
        ),
    ],
)
def test_markdown_v2_entities_match_tdlib(
    markup: str, text: str, entities: list[tuple[str, int, int]]
) -> None:
    plain, parsed = parse_markdown_v2(markup)
    assert plain == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


def test_legacy_markdown() -> None:
    plain, entities = parse_markdown("*b* _i_ `c` ```py\nx``` [l](example.com) \\*")
    assert plain == "b i c x l *"
    assert [(e["type"], e["offset"], e["length"]) for e in entities] == [
        ("bold", 0, 1),
        ("italic", 2, 1),
        ("code", 4, 1),
        ("pre", 6, 1),
        ("text_link", 8, 1),
    ]
    assert entities[3]["language"] == "py"


# --- recording and waiting -------------------------------------------------------------------


def test_wait_for_sees_a_message_sent_from_another_thread(tg: Running) -> None:
    sent_at: list[float] = []

    def send_later() -> None:
        time.sleep(0.2)
        sent_at.append(time.monotonic())
        with httpx.Client(timeout=5) as http:
            for text in ("noise", "ALERT kill switch"):
                http.post(tg.api("sendMessage"), data={"chat_id": GROUP, "text": text})

    sender = threading.Thread(target=send_later)
    start = time.monotonic()
    sender.start()
    message = tg.emulator.wait_for(lambda m: "ALERT" in m.text, timeout=5)
    sender.join()
    assert message is not None
    assert message.text == "ALERT kill switch"
    assert message.received_monotonic >= sent_at[0] >= start + 0.2
    assert tg.emulator.wait_for(timeout=0) is not None
    assert tg.emulator.wait_for(lambda m: "ALERT" in m.text, since=time.monotonic(), timeout=0.1) is None


def test_wait_for_times_out_and_waits_from_other_threads(tg: Running) -> None:
    start = time.monotonic()
    assert tg.emulator.wait_for(timeout=0.2) is None
    assert 0.2 <= time.monotonic() - start < 1.5

    found: list[Any] = []
    waiter = threading.Thread(target=lambda: found.append(tg.emulator.wait_for(timeout=5)))
    waiter.start()
    with httpx.Client(timeout=5) as http:
        http.post(tg.api("sendMessage"), data={"chat_id": GROUP, "text": "seen"})
    waiter.join(timeout=5)
    assert found and found[0].text == "seen"


def test_concurrent_sends_get_unique_increasing_ids(tg: Running) -> None:
    def send(n: int) -> None:
        with httpx.Client(timeout=5) as http:
            http.post(tg.api("sendMessage"), json={"chat_id": GROUP, "text": f"m{n}"})

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [m.message_id for m in tg.emulator.delivered()]
    assert ids == list(range(1, 9))


@pytest.mark.asyncio
async def test_async_client_round_trip(tg: Running) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        me, sent = await asyncio.gather(
            http.get(tg.api("getMe")),
            http.post(
                tg.api("sendMessage"),
                json={"chat_id": GROUP, "text": "<b>a</b>", "parse_mode": "HTML"},
            ),
        )
    assert me.json()["result"]["is_bot"] is True
    assert sent.json()["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 1}]


def test_latency_is_injected_on_every_request(start_telegram: StartTelegram, client: httpx.Client) -> None:
    running = start_telegram(latency_ms=150)
    for token in (running.emulator.token, generate_token()):
        start = time.monotonic()
        client.get(running.api("getMe", token=token))
        assert time.monotonic() - start >= 0.15


# --- configuration ---------------------------------------------------------------------------


def test_tokens_have_the_real_shape() -> None:
    token = generate_token()
    assert TOKEN_PATTERN.fullmatch(token)
    assert TelegramEmulator().token != TelegramEmulator().token
    emulator = TelegramEmulator(token="123456789:" + "A" * 35)
    assert emulator.bot_id == 123456789
    for bad in ("123:short", "abc:" + "A" * 35, "123456789" + "A" * 35):
        with pytest.raises(ValueError, match="bot token"):
            TelegramEmulator(token=bad)


def test_unknown_fault_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="telegram_hng") as raised:
        TelegramEmulator(faults=["telegram_slow", "telegram_hng"])
    for name in FAULTS:
        assert name in str(raised.value)
    emulator = TelegramEmulator()
    with pytest.raises(ValueError, match="binance_down"):
        emulator.set_faults(["binance_down"])
    assert emulator.faults == frozenset()


def test_every_fault_names_the_check_it_targets() -> None:
    assert len(FAULTS) == 11
    for name, description in FAULTS.items():
        assert name.startswith("telegram_")
        assert re.search(r"\((?:fails )?(telegram|integration)\.[a-z_]+", description), name


# --- faults ----------------------------------------------------------------------------------


def test_token_revoked_makes_every_call_unauthorized(
    start_telegram: StartTelegram, client: httpx.Client
) -> None:
    running = start_telegram(faults=["telegram_token_revoked"], chat_id=GROUP)
    assert_error(client.get(running.api("getMe")), 401, "Unauthorized")
    assert_error(client.get(running.api("getChat"), params={"chat_id": GROUP}), 401, "Unauthorized")
    response = client.post(running.api("sendMessage"), data={"chat_id": GROUP, "text": "x"})
    assert_error(response, 401, "Unauthorized")


def test_chat_not_found_leaves_get_me_working(start_telegram: StartTelegram, client: httpx.Client) -> None:
    running = start_telegram(faults=["telegram_chat_not_found"], chat_id=GROUP)
    assert client.get(running.api("getMe")).status_code == 200
    response = client.get(running.api("getChat"), params={"chat_id": GROUP})
    assert_error(response, 400, "Bad Request: chat not found")
    response = client.post(running.api("sendMessage"), data={"chat_id": GROUP, "text": "x"})
    assert_error(response, 400, "Bad Request: chat not found")


def test_bot_blocked_refuses_delivery_only(start_telegram: StartTelegram, client: httpx.Client) -> None:
    running = start_telegram(faults=["telegram_bot_blocked"], chat_id=GROUP)
    assert client.get(running.api("getChat"), params={"chat_id": GROUP}).status_code == 200
    response = client.post(running.api("sendMessage"), data={"chat_id": GROUP, "text": "x"})
    assert_error(response, 403, "Forbidden: bot was blocked by the user")
    assert running.emulator.delivered() == []


def test_rate_limited_says_when_to_retry(start_telegram: StartTelegram, client: httpx.Client) -> None:
    running = start_telegram(faults=["telegram_rate_limited"], chat_id=GROUP)
    response = client.post(running.api("sendMessage"), data={"chat_id": GROUP, "text": "x"})
    body = assert_error(response, 429, "Too Many Requests: retry after 17")
    assert body["parameters"] == {"retry_after": RATE_LIMIT_RETRY_AFTER} == {"retry_after": 17}
    assert client.get(running.api("getMe")).status_code == 200


def test_parse_entities_rejects_only_formatted_text(
    start_telegram: StartTelegram, client: httpx.Client
) -> None:
    running = start_telegram(faults=["telegram_parse_entities"], chat_id=GROUP)
    url = running.api("sendMessage")
    for mode in ("HTML", "MarkdownV2", "Markdown"):
        response = client.post(url, data={"chat_id": GROUP, "text": "<b>ok</b>", "parse_mode": mode})
        assert response.status_code == 400
        assert response.json()["description"].startswith("Bad Request: can't parse entities: ")
    assert client.post(url, data={"chat_id": GROUP, "text": "plain"}).status_code == 200
    assert [m.text for m in running.emulator.delivered()] == ["plain"]


def test_down_answers_nginx_bad_gateway(start_telegram: StartTelegram, client: httpx.Client) -> None:
    running = start_telegram(faults=["telegram_down"])
    for response in (
        client.get(running.api("getMe")),
        client.post(running.api("sendMessage"), data={"chat_id": GROUP, "text": "x"}),
        client.get(running.url + "/anything"),
    ):
        assert response.status_code == 502
        assert response.headers["content-type"].startswith("text/html")
        assert "<title>502 Bad Gateway</title>" in response.text
        assert "nginx" in response.text
    assert [r.status for r in running.emulator.requests()] == [502, 502, 502]


def test_slow_delays_send_message_only(start_telegram: StartTelegram, client: httpx.Client) -> None:
    assert TelegramEmulator().send_delay_s == SLOW_SEND_S > 5
    running = start_telegram(faults=["telegram_slow"], send_delay_s=0.3, chat_id=GROUP)
    start = time.monotonic()
    assert client.get(running.api("getMe")).status_code == 200
    assert time.monotonic() - start < 0.3
    start = time.monotonic()
    assert client.post(running.api("sendMessage"), data={"chat_id": GROUP, "text": "x"}).status_code == 200
    assert time.monotonic() - start >= 0.3
    (message,) = running.emulator.delivered()
    assert message.received_monotonic >= start + 0.3


def test_send_delay_needs_the_slow_fault(start_telegram: StartTelegram, client: httpx.Client) -> None:
    running = start_telegram(send_delay_s=2, chat_id=GROUP)
    start = time.monotonic()
    client.post(running.api("sendMessage"), data={"chat_id": GROUP, "text": "x"})
    assert time.monotonic() - start < 1


def test_hang_never_answers_send_message(start_telegram: StartTelegram, client: httpx.Client) -> None:
    running = start_telegram(faults=["telegram_hang"], chat_id=GROUP)
    assert client.get(running.api("getMe")).status_code == 200
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post(running.api("sendMessage"), data={"chat_id": GROUP, "text": "x"}, timeout=0.3)
    assert time.monotonic() - start < 1
    assert running.emulator.delivered() == []
    assert running.emulator.requests()[-1].status is None


def test_hang_all_answers_nothing_not_even_get_me(
    start_telegram: StartTelegram, client: httpx.Client
) -> None:
    running = start_telegram(faults=["telegram_hang_all"], chat_id=GROUP)
    for method in ("getMe", "getChat"):
        with pytest.raises(httpx.ReadTimeout):
            client.get(running.api(method), params={"chat_id": GROUP}, timeout=0.3)
    assert [(r.api_method, r.status) for r in running.emulator.requests()] == [
        ("getMe", None),
        ("getChat", None),
    ]


@pytest.mark.asyncio
async def test_trickle_all_drips_every_answer_with_its_status(start_telegram: StartTelegram) -> None:
    running = start_telegram(faults=["telegram_trickle_all"], chat_id=GROUP)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=1.0)) as http:
        for url, status in ((running.api("getMe"), 200), (running.url + "/botnope/getMe", 401)):
            received = b""
            start = time.monotonic()
            async with http.stream("GET", url) as response:
                assert response.status_code == status
                async for chunk in response.aiter_raw():
                    received += chunk
                    if time.monotonic() - start >= 0.7:
                        break
            assert 1 <= len(received) <= 3 and received.startswith(b"{")


@pytest.mark.parametrize(
    "fault",
    ["telegram_hang", "telegram_hang_all", "telegram_slow", "telegram_trickle", "telegram_trickle_all"],
)
def test_stop_releases_held_requests_promptly(fault: str) -> None:
    emulator = TelegramEmulator(faults=[fault], chat_id=GROUP)
    server = BackgroundServer(emulator.make_app())
    url = server.start()
    outcome: list[object] = []

    def call() -> None:
        try:
            with httpx.Client(timeout=5) as http:
                outcome.append(
                    http.post(
                        f"{url}/bot{emulator.token}/sendMessage",
                        data={"chat_id": GROUP, "text": "x"},
                    )
                )
        except httpx.HTTPError as error:
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)  # the request is being held by now
    start = time.monotonic()
    server.stop()
    caller.join(timeout=5)
    assert time.monotonic() - start < 2
    assert outcome and not isinstance(outcome[0], httpx.TimeoutException)


@pytest.mark.asyncio
async def test_trickle_defeats_read_timeouts_but_not_deadlines(
    start_telegram: StartTelegram,
) -> None:
    running = start_telegram(faults=["telegram_trickle"], chat_id=GROUP)
    payload = {"chat_id": GROUP, "text": "x"}
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=1.0)) as http:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(http.post(running.api("sendMessage"), json=payload), timeout=0.8)
        assert time.monotonic() - start < 1.2

        received = b""
        start = time.monotonic()
        async with http.stream("POST", running.api("sendMessage"), json=payload) as response:
            assert response.status_code == 200
            assert int(response.headers["content-length"]) > 100
            async for chunk in response.aiter_raw():
                received += chunk
                if time.monotonic() - start >= 1.2:
                    break
    assert 2 <= len(received) <= 4
    assert received.startswith(b'{"')
    assert [m.text for m in running.emulator.delivered()] == ["x", "x"]
