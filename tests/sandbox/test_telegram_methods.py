"""The Bot API methods bot frameworks call, over loopback with httpx: shapes, state and every error.

Expected texts are telegram-bot-api's and TDLib's, word for word.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from readiness.sandbox.telegram.control import CONTROL_PATH
from readiness.sandbox.telegram.entities import bot_command_entities
from readiness.sandbox.telegram.files import MAX_UPLOAD_BYTES, URL_PHOTO_SIZE
from readiness.sandbox.telegram.updates import TERMINATED_BY_POLL, TERMINATED_BY_WEBHOOK, WEBHOOK_ACTIVE

from .telegram_helpers import GROUP, Running, StartTelegram, assert_error, png

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
KEYBOARD = {
    "inline_keyboard": [[{"text": "Stop", "callback_data": "stop"}, {"text": "Docs", "url": "https://x.org"}]]
}


def call(client: httpx.Client, tg: Running, method: str, **params: Any) -> httpx.Response:
    return client.post(tg.api(method), json=params)


def result(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    return body["result"]


def send(client: httpx.Client, tg: Running, text: str = "alert", **params: Any) -> dict[str, Any]:
    message: dict[str, Any] = result(call(client, tg, "sendMessage", chat_id=GROUP, text=text, **params))
    return message


# --- getUpdates ------------------------------------------------------------------------------


def test_a_delivered_command_reaches_get_updates_as_a_real_update(tg: Running, client: httpx.Client) -> None:
    assert result(call(client, tg, "getUpdates")) == []
    update = tg.emulator.send_update("/stop@readiness_sandbox_bot now")
    assert update is not None
    (polled,) = result(call(client, tg, "getUpdates", timeout=0))
    assert polled == update
    message = polled["message"]
    assert message["from"] == {
        "id": 5_000_000_001,
        "is_bot": False,
        "first_name": "Sandbox",
        "last_name": "Operator",
        "username": "sandbox_operator",
        "language_code": "en",
    }
    assert message["chat"] == {"id": GROUP, "title": "Readiness Alerts", "type": "supergroup"}
    assert message["text"] == "/stop@readiness_sandbox_bot now"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 27}]
    assert tg.emulator.message(message["message_id"]) == message


def test_offset_confirms_and_limit_caps(tg: Running, client: httpx.Client) -> None:
    ids = [tg.emulator.send_update(f"m{n}")["update_id"] for n in range(4)]  # type: ignore[index]
    assert ids == list(range(ids[0], ids[0] + 4))
    assert [u["update_id"] for u in result(call(client, tg, "getUpdates", limit=2))] == ids[:2]
    assert [u["update_id"] for u in result(call(client, tg, "getUpdates", offset=ids[1] + 1))] == ids[2:]
    # confirmed updates are gone, even for a later call without offset
    assert [u["update_id"] for u in result(call(client, tg, "getUpdates"))] == ids[2:]
    assert [u["update_id"] for u in result(call(client, tg, "getUpdates", offset=-1))] == ids[3:]
    assert [u["update_id"] for u in result(call(client, tg, "getUpdates", limit=0))] == ids[3:]


def test_a_private_chat_is_the_user_and_plain_text_has_no_entities(
    start_telegram: StartTelegram, client: httpx.Client
) -> None:
    running = start_telegram(chat_id=123456789, chat_title="Ops")
    running.emulator.send_update("status please")
    (update,) = result(call(client, running, "getUpdates"))
    assert update["message"]["from"] == {
        "id": 123456789,
        "is_bot": False,
        "first_name": "Ops",
        "language_code": "en",
    }
    assert "entities" not in update["message"]
    with pytest.raises(ValueError, match="message text is empty"):
        running.emulator.send_update("  ")


def test_long_poll_wakes_on_an_update_and_times_out_empty(tg: Running, client: httpx.Client) -> None:
    start = time.monotonic()
    threading.Timer(0.3, tg.emulator.send_update, args=("/stop",)).start()
    (update,) = result(call(client, tg, "getUpdates", timeout=5))
    assert 0.3 <= time.monotonic() - start < 1.5
    assert update["message"]["text"] == "/stop"
    start = time.monotonic()
    assert result(call(client, tg, "getUpdates", offset=update["update_id"] + 1, timeout=1)) == []
    assert 1 <= time.monotonic() - start < 2


def test_a_second_long_poll_ends_the_first_with_409(tg: Running) -> None:
    answers: list[httpx.Response] = []

    def first_poll() -> None:
        with httpx.Client(timeout=10) as http:
            answers.append(http.post(tg.api("getUpdates"), json={"timeout": 5}))

    poller = threading.Thread(target=first_poll)
    poller.start()
    time.sleep(0.3)
    with httpx.Client(timeout=10) as http:
        threading.Timer(0.3, tg.emulator.send_update, args=("hi",)).start()
        second = http.post(tg.api("getUpdates"), json={"timeout": 5})
    poller.join(timeout=5)
    assert_error(answers[0], 409, TERMINATED_BY_POLL)
    assert [u["message"]["text"] for u in result(second)] == ["hi"]


def test_allowed_updates_filter_new_updates_and_persist(tg: Running, client: httpx.Client) -> None:
    result(call(client, tg, "getUpdates", allowed_updates=["callback_query"]))
    assert tg.emulator.send_update("ignored") is None
    assert result(call(client, tg, "getUpdates")) == []  # no allowed_updates: the setting stays
    info = result(call(client, tg, "getWebhookInfo"))
    assert info["allowed_updates"] == ["callback_query"]
    result(call(client, tg, "getUpdates", allowed_updates=[]))  # an empty list restores the default
    assert tg.emulator.send_update("seen") is not None
    assert "allowed_updates" not in result(call(client, tg, "getWebhookInfo"))


# --- webhooks --------------------------------------------------------------------------------


def test_webhook_set_info_and_delete(tg: Running, client: httpx.Client) -> None:
    def answer(method: str, **params: Any) -> tuple[Any, str | None]:
        body = call(client, tg, method, **params).json()
        return body["result"], body.get("description")

    assert answer("deleteWebhook") == (True, "Webhook is already deleted")
    tg.emulator.send_update("queued")
    url = "https://bot.example.com/hook"
    assert answer("setWebhook", url=url, secret_token="s3cr_t-") == (True, "Webhook was set")
    assert answer("setWebhook", url=url, secret_token="s3cr_t-") == (True, "Webhook is already set")
    assert answer("getWebhookInfo")[0] == {
        "url": url,
        "has_custom_certificate": False,
        "pending_update_count": 1,
        "max_connections": 40,
        "ip_address": "<unknown>",
    }
    assert_error(call(client, tg, "getUpdates"), 409, WEBHOOK_ACTIVE)
    assert answer("deleteWebhook", drop_pending_updates=True) == (True, "Webhook was deleted")
    assert answer("getWebhookInfo")[0] == {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": 0,
    }
    assert result(call(client, tg, "getUpdates")) == []


def test_setting_a_webhook_ends_a_waiting_long_poll(tg: Running) -> None:
    answers: list[httpx.Response] = []

    def poll() -> None:
        with httpx.Client(timeout=10) as http:
            answers.append(http.post(tg.api("getUpdates"), json={"timeout": 5}))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    with httpx.Client(timeout=5) as http:
        http.post(tg.api("setWebhook"), json={"url": "https://bot.example.com/hook"})
    poller.join(timeout=5)
    assert_error(answers[0], 409, TERMINATED_BY_WEBHOOK)


@pytest.mark.parametrize(
    ("params", "description"),
    [
        (
            {"url": "http://bot.example.com/hook"},
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        ),
        (
            {"url": "https://bot.example.com:8080/hook"},
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ),
        ({"url": "ftp://bot.example.com/hook"}, "Bad Request: invalid webhook URL specified"),
        (
            {"url": "https://bot.example.com", "secret_token": "a b"},
            "Bad Request: secret token contains unallowed characters",
        ),
        (
            {"url": "https://bot.example.com", "secret_token": "a" * 257},
            "Bad Request: secret token is too long",
        ),
    ],
)
def test_bad_webhooks_are_refused(
    tg: Running, client: httpx.Client, params: dict[str, Any], description: str
) -> None:
    assert_error(call(client, tg, "setWebhook", **params), 400, description)
    assert result(call(client, tg, "getWebhookInfo"))["url"] == ""


# --- commands --------------------------------------------------------------------------------


def test_commands_are_kept_per_scope_and_language(tg: Running, client: httpx.Client) -> None:
    commands = [
        {"command": "/stop", "description": " Stop trading "},
        {"command": "status", "description": "PnL"},
    ]
    chat_scope = {"type": "chat", "chat_id": GROUP}
    assert result(call(client, tg, "setMyCommands", commands=commands)) is True
    assert result(
        call(client, tg, "setMyCommands", commands=commands[1:], scope=chat_scope, language_code="de")
    )
    assert result(call(client, tg, "getMyCommands")) == [
        {"command": "stop", "description": "Stop trading"},
        {"command": "status", "description": "PnL"},
    ]
    assert result(call(client, tg, "getMyCommands", scope=chat_scope, language_code="de")) == [
        {"command": "status", "description": "PnL"}
    ]
    assert result(call(client, tg, "getMyCommands", scope=chat_scope)) == []
    assert result(call(client, tg, "deleteMyCommands")) is True
    assert result(call(client, tg, "getMyCommands")) == []


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"commands": "[{"}, "Bad Request: can't parse commands JSON object"),
        ({"commands": {"command": "a"}}, "Bad Request: expected an Array of BotCommand"),
        ({"commands": ["stop"]}, "Bad Request: can't parse BotCommand: expected an Object"),
        (
            {"commands": [{"command": "stop"}]},
            "Bad Request: can't parse BotCommand: Can't find field \"description\"",
        ),
        ({"commands": [{"command": "/", "description": "x"}]}, "Bad Request: command must be non-empty"),
        (
            {"commands": [{"command": "a" * 33, "description": "x"}]},
            "Bad Request: command length must not exceed 32",
        ),
        (
            {"commands": [{"command": "a", "description": " "}]},
            "Bad Request: command description must be non-empty",
        ),
        (
            {"commands": [{"command": "a", "description": "x" * 257}]},
            "Bad Request: command description length must not exceed 256",
        ),
        ({"commands": [{"command": "Stop-Now", "description": "x"}]}, "Bad Request: BOT_COMMAND_INVALID"),
        (
            {"commands": [{"command": f"c{n}", "description": "x"} for n in range(101)]},
            "Bad Request: BOT_COMMANDS_TOO_MUCH",
        ),
        ({"scope": "{"}, "Bad Request: can't parse BotCommandScope JSON object"),
        (
            {"scope": ["default"]},
            "Bad Request: can't parse BotCommandScope: BotCommandScope must be an Object",
        ),
        (
            {"scope": {"type": "everyone"}},
            "Bad Request: can't parse BotCommandScope: Unsupported type specified",
        ),
        (
            {"scope": {"type": "chat"}},
            "Bad Request: can't parse BotCommandScope: Can't find field \"chat_id\"",
        ),
        (
            {"scope": {"type": "chat_member", "chat_id": GROUP, "user_id": 0}},
            "Bad Request: can't parse BotCommandScope: Invalid user_id specified",
        ),
        ({"scope": {"type": "chat", "chat_id": 42}}, "Bad Request: chat not found"),
        ({"language_code": "eng"}, "Bad Request: invalid language code specified"),
    ],
)
def test_bad_commands_are_refused(
    tg: Running, client: httpx.Client, params: dict[str, Any], description: str
) -> None:
    assert_error(call(client, tg, "setMyCommands", **params), 400, description)


# --- sending, editing, deleting --------------------------------------------------------------


def test_inline_keyboard_is_echoed_and_reply_keyboards_are_not(tg: Running, client: httpx.Client) -> None:
    assert send(client, tg, reply_markup=KEYBOARD)["reply_markup"] == KEYBOARD
    keyboard = {"keyboard": [["Yes", {"text": "No"}]], "resize_keyboard": True}
    assert "reply_markup" not in send(client, tg, reply_markup=keyboard)
    as_form = client.post(
        tg.api("sendMessage"), data={"chat_id": GROUP, "text": "x", "reply_markup": json.dumps(KEYBOARD)}
    )
    assert result(as_form)["reply_markup"] == KEYBOARD


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        ("{not json", "Bad Request: can't parse reply keyboard markup JSON object"),
        ("[]", "Bad Request: object expected as reply markup"),
        ({"keyboard": "Yes"}, 'Bad Request: field "keyboard" must be of type Array'),
        ({"keyboard": ["Yes"]}, 'Bad Request: field "keyboard" must be an Array of Arrays'),
        (
            {"keyboard": [[1.5]]},
            "Bad Request: can't parse keyboard button: KeyboardButton must be a String or an Object",
        ),
        (
            {"inline_keyboard": [{"text": "a"}]},
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
        ),
        (
            {"inline_keyboard": [[{"text": "a"}]]},
            "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
        ),
        (
            {"inline_keyboard": [[{"callback_data": "a"}]]},
            "Bad Request: can't parse inline keyboard button: Can't find field \"text\"",
        ),
        (
            {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]},
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        ({"remove_keyboard": "yes"}, 'Bad Request: field "remove_keyboard" must be of type Boolean'),
    ],
)
def test_bad_reply_markup_is_refused(
    tg: Running, client: httpx.Client, markup: Any, description: str
) -> None:
    response = client.post(
        tg.api("sendMessage"),
        data={
            "chat_id": GROUP,
            "text": "x",
            "reply_markup": markup if isinstance(markup, str) else json.dumps(markup),
        },
    )
    assert_error(response, 400, description)
    assert tg.emulator.delivered() == []


def test_replies_carry_the_replied_message(tg: Running, client: httpx.Client) -> None:
    first = send(client, tg, "first")
    reply = send(client, tg, "second", reply_parameters={"message_id": first["message_id"]})
    assert reply["reply_to_message"] == first
    legacy = send(client, tg, "third", reply_to_message_id=reply["message_id"])
    assert legacy["reply_to_message"]["message_id"] == reply["message_id"]
    assert "reply_to_message" not in legacy["reply_to_message"]
    lenient = send(client, tg, "x", reply_parameters={"message_id": 999, "allow_sending_without_reply": True})
    assert "reply_to_message" not in lenient


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"reply_parameters": "{"}, "Bad Request: can't parse reply parameters JSON object"),
        ({"reply_parameters": [1]}, "Bad Request: object expected as reply parameters"),
        ({"reply_parameters": {"chat_id": GROUP}}, 'Bad Request: can\'t find field "message_id"'),
        ({"reply_parameters": {"message_id": 999}}, "Bad Request: message to be replied not found"),
        ({"reply_to_message_id": 999}, "Bad Request: message to be replied not found"),
    ],
)
def test_bad_replies_are_refused(
    tg: Running, client: httpx.Client, params: dict[str, Any], description: str
) -> None:
    assert_error(call(client, tg, "sendMessage", chat_id=GROUP, text="x", **params), 400, description)


def test_edit_replaces_text_and_keyboard(tg: Running, client: httpx.Client) -> None:
    sent = send(client, tg, "<b>loss</b>", parse_mode="HTML", reply_markup=KEYBOARD)
    edited = result(
        call(client, tg, "editMessageText", chat_id=GROUP, message_id=sent["message_id"], text="recovered")
    )
    assert edited["text"] == "recovered"
    assert "entities" not in edited and "reply_markup" not in edited
    assert edited["date"] == sent["date"] and edited["edit_date"] >= sent["date"]
    assert tg.emulator.message(sent["message_id"]) == edited
    assert [m.text for m in tg.emulator.delivered()] == [
        "<b>loss</b>"
    ]  # the delivery log keeps what was sent


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"text": "x"}, "Bad Request: message identifier is not specified"),
        ({"text": "x", "inline_message_id": "AgAAAB"}, "Bad Request: MESSAGE_ID_INVALID"),
        ({"text": "x", "message_id": 1}, "Bad Request: chat_id is empty"),
        ({"text": "x", "chat_id": 42, "message_id": 1}, "Bad Request: chat not found"),
        ({"text": "x", "chat_id": GROUP}, "Bad Request: message to edit not found"),
        ({"text": "x", "chat_id": GROUP, "message_id": 999}, "Bad Request: message to edit not found"),
        ({"chat_id": GROUP, "message_id": "{sent}"}, "Bad Request: message text is empty"),
        ({"text": "same", "chat_id": GROUP, "message_id": "{sent}"}, NOT_MODIFIED),
        ({"text": "x", "chat_id": GROUP, "message_id": "{user}"}, "Bad Request: message can't be edited"),
        (
            {"text": "x", "chat_id": GROUP, "message_id": "{document}"},
            "Bad Request: there is no text in the message to edit",
        ),
    ],
)
def test_bad_edits_are_refused(
    tg: Running, client: httpx.Client, params: dict[str, Any], description: str
) -> None:
    ids = {
        "{sent}": send(client, tg, "same")["message_id"],
        "{user}": tg.emulator.send_update("hello")["message"]["message_id"],  # type: ignore[index]
        "{document}": result(
            client.post(
                tg.api("sendDocument"), data={"chat_id": str(GROUP)}, files={"document": ("a.txt", b"a")}
            )
        )["message_id"],
    }
    params = {
        key: ids.get(value, value) if isinstance(value, str) else value for key, value in params.items()
    }
    assert_error(call(client, tg, "editMessageText", **params), 400, description)


def test_an_edit_of_the_keyboard_alone_is_a_modification(tg: Running, client: httpx.Client) -> None:
    sent = send(client, tg, "same")
    edited = result(
        call(
            client,
            tg,
            "editMessageText",
            chat_id=GROUP,
            message_id=sent["message_id"],
            text="same",
            reply_markup=KEYBOARD,
        )
    )
    assert edited["reply_markup"] == KEYBOARD


def test_delete_removes_the_message_once(tg: Running, client: httpx.Client) -> None:
    sent = send(client, tg)
    assert result(call(client, tg, "deleteMessage", chat_id=GROUP, message_id=sent["message_id"])) is True
    assert tg.emulator.message(sent["message_id"]) is None
    again = call(client, tg, "deleteMessage", chat_id=GROUP, message_id=sent["message_id"])
    assert_error(again, 400, "Bad Request: message to delete not found")
    edit = call(client, tg, "editMessageText", chat_id=GROUP, message_id=sent["message_id"], text="x")
    assert_error(edit, 400, "Bad Request: message to edit not found")
    assert_error(
        call(client, tg, "deleteMessage", message_id=1), 400, "Bad Request: chat identifier is not specified"
    )
    assert_error(
        call(client, tg, "deleteMessage", chat_id=GROUP),
        400,
        "Bad Request: message identifier is not specified",
    )


# --- files -----------------------------------------------------------------------------------


def test_documents_upload_reuse_and_download(tg: Running, client: httpx.Client) -> None:
    upload = client.post(
        tg.api("sendDocument"),
        data={"chat_id": str(GROUP), "caption": "*daily* report", "parse_mode": "Markdown"},
        files={"document": ("report.csv", b"pnl,1.5\n", "application/octet-stream")},
    )
    message = result(upload)
    document = message["document"]
    assert document["file_name"] == "report.csv" and document["mime_type"] == "text/csv"
    assert document["file_size"] == 8 and document["file_id"].startswith("BQAC")
    assert message["caption"] == "daily report"
    assert message["caption_entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    delivered = tg.emulator.delivered()[-1]
    assert (delivered.kind, delivered.file_id, delivered.plain_text) == (
        "document",
        document["file_id"],
        "daily report",
    )
    assert tg.emulator.file_content(document["file_id"]) == b"pnl,1.5\n"

    reused = result(call(client, tg, "sendDocument", chat_id=GROUP, document=document["file_id"]))["document"]
    assert reused == document
    attached = client.post(
        tg.api("sendDocument"),
        data={"chat_id": str(GROUP), "document": "attach://part1"},
        files={"part1": ("log.txt", b"x")},
    )
    assert result(attached)["document"]["file_name"] == "log.txt"

    file = result(call(client, tg, "getFile", file_id=document["file_id"]))
    assert file == {
        **{k: document[k] for k in ("file_id", "file_unique_id", "file_size")},
        "file_path": file["file_path"],
    }
    download = client.get(f"{tg.url}/file/bot{tg.emulator.token}/{file['file_path']}")
    assert download.status_code == 200 and download.content == b"pnl,1.5\n"
    assert_error(client.get(f"{tg.url}/file/bot{tg.emulator.token}/documents/nope"), 404, "Not Found")
    assert_error(client.get(f"{tg.url}/file/bot123:{'A' * 35}/{file['file_path']}"), 401, "Unauthorized")


def test_photos_come_in_sizes_and_urls_are_recorded_not_fetched(tg: Running, client: httpx.Client) -> None:
    photo = result(
        client.post(
            tg.api("sendPhoto"), data={"chat_id": str(GROUP)}, files={"photo": ("chart.png", png(1000, 500))}
        )
    )["photo"]
    assert [(size["width"], size["height"]) for size in photo] == [
        (90, 45),
        (320, 160),
        (800, 400),
        (1000, 500),
    ]
    assert photo[-1]["file_size"] == len(png(1000, 500)) and photo[-1]["file_id"].startswith("AgAC")
    again = result(call(client, tg, "sendPhoto", chat_id=GROUP, photo=photo[1]["file_id"]))["photo"]
    assert again == photo

    by_url = result(call(client, tg, "sendPhoto", chat_id=GROUP, photo="https://example.com/chart.png"))[
        "photo"
    ]
    assert [(size["width"], size["height"]) for size in by_url] == [URL_PHOTO_SIZE]
    document = result(
        call(client, tg, "sendDocument", chat_id=GROUP, document="https://example.com/r/Q1%20report.pdf")
    )
    assert {k: document["document"][k] for k in ("file_name", "mime_type")} == {
        "file_name": "Q1 report.pdf",
        "mime_type": "application/pdf",
    }
    unavailable = call(client, tg, "getFile", file_id=document["document"]["file_id"])
    assert_error(unavailable, 400, "Bad Request: wrong file_id or the file is temporarily unavailable")


@pytest.mark.parametrize(
    ("method", "data", "files", "description"),
    [
        ("sendDocument", {}, {}, "Bad Request: there is no document in the request"),
        (
            "sendDocument",
            {"document": "attach://missing"},
            {},
            "Bad Request: there is no document in the request",
        ),
        ("sendPhoto", {}, {"document": ("a.png", b"x")}, "Bad Request: there is no photo in the request"),
        ("sendDocument", {}, {"document": ("a.txt", b"")}, "Bad Request: file must be non-empty"),
        (
            "sendDocument",
            {"document": "BQACnope"},
            {},
            "Bad Request: wrong file identifier/HTTP URL specified",
        ),
        (
            "sendDocument",
            {"document": "{photo}"},
            {},
            "Bad Request: can't use file of type Photo as Document",
        ),
        ("sendPhoto", {"photo": "{document}"}, {}, "Bad Request: can't use file of type Document as Photo"),
        ("sendPhoto", {}, {"photo": ("a.png", b"not an image")}, "Bad Request: IMAGE_PROCESS_FAILED"),
        ("sendPhoto", {}, {"photo": ("a.png", png(2100, 100))}, "Bad Request: PHOTO_INVALID_DIMENSIONS"),
        (
            "sendDocument",
            {"caption": "x" * 1025},
            {"document": ("a.txt", b"a")},
            "Bad Request: message caption is too long",
        ),
    ],
)
def test_bad_files_are_refused(
    tg: Running,
    client: httpx.Client,
    method: str,
    data: dict[str, str],
    files: dict[str, tuple[str, bytes]],
    description: str,
) -> None:
    known = {
        "{photo}": result(
            client.post(
                tg.api("sendPhoto"), data={"chat_id": str(GROUP)}, files={"photo": ("a.png", png(9, 9))}
            )
        ),
        "{document}": result(
            client.post(tg.api("sendDocument"), data={"chat_id": str(GROUP)}, files={"document": ("a", b"a")})
        ),
    }
    ids = {
        "{photo}": known["{photo}"]["photo"][-1]["file_id"],
        "{document}": known["{document}"]["document"]["file_id"],
    }
    data = {key: ids.get(value, value) for key, value in data.items()}
    response = client.post(tg.api(method), data={"chat_id": str(GROUP), **data}, files=files or None)
    assert_error(response, 400, description)


def test_oversized_uploads_answer_413(tg: Running, client: httpx.Client) -> None:
    too_big = b"\0" * (MAX_UPLOAD_BYTES + 1)
    response = client.post(
        tg.api("sendDocument"), data={"chat_id": str(GROUP)}, files={"document": ("big.bin", too_big)}
    )
    body = assert_error(response, 413, "Request Entity Too Large")
    assert len(json.dumps(body, separators=(",", ":"))) == 70  # byte for byte what Telegram answers
    past_the_body_limit = too_big + b"\0" * (1024 * 1024)
    response = client.post(tg.api("sendDocument"), files={"document": ("big.bin", past_the_body_limit)})
    assert_error(response, 413, "Request Entity Too Large")


def test_get_file_errors(tg: Running, client: httpx.Client) -> None:
    assert_error(call(client, tg, "getFile"), 400, "Bad Request: file_id not specified")
    assert_error(call(client, tg, "getFile", file_id="BQACnope"), 400, "Bad Request: invalid file_id")


# --- chat actions and callback queries -------------------------------------------------------


def test_chat_actions(tg: Running, client: httpx.Client) -> None:
    for action in ("typing", "UPLOAD_DOCUMENT", "record_voice"):
        assert result(call(client, tg, "sendChatAction", chat_id=GROUP, action=action)) is True
    for action in ("dancing", ""):
        response = call(client, tg, "sendChatAction", chat_id=GROUP, action=action)
        assert_error(response, 400, "Bad Request: wrong parameter action in request")
    assert_error(
        call(client, tg, "sendChatAction", chat_id=42, action="typing"), 400, "Bad Request: chat not found"
    )


def test_a_pressed_button_is_a_callback_query_answered_once(tg: Running, client: httpx.Client) -> None:
    sent = send(client, tg, reply_markup=KEYBOARD)
    update = tg.emulator.press_button("stop")
    assert update is not None
    query = update["callback_query"]
    assert query["message"] == sent and query["data"] == "stop"
    assert query["from"]["id"] == 5_000_000_001 and query["id"].isdigit() and query["chat_instance"]
    assert result(call(client, tg, "getUpdates"))[0] == update
    assert (
        result(call(client, tg, "answerCallbackQuery", callback_query_id=query["id"], text="Stopping"))
        is True
    )
    stale = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert_error(call(client, tg, "answerCallbackQuery", callback_query_id=query["id"]), 400, stale)
    assert_error(call(client, tg, "answerCallbackQuery", callback_query_id="123"), 400, stale)
    with pytest.raises(ValueError, match="no inline button with callback_data 'go'"):
        tg.emulator.press_button("go")
    with pytest.raises(ValueError, match="on message 999"):
        tg.emulator.press_button("stop", message_id=999)


# --- faults on the new methods ---------------------------------------------------------------


def test_blocked_and_missing_chats_refuse_every_send(
    start_telegram: StartTelegram, client: httpx.Client
) -> None:
    for fault, status, description in (
        ("telegram_bot_blocked", 403, "Forbidden: bot was blocked by the user"),
        ("telegram_chat_not_found", 400, "Bad Request: chat not found"),
    ):
        running = start_telegram(chat_id=GROUP, faults=[fault])
        document = client.post(
            running.api("sendDocument"), data={"chat_id": str(GROUP)}, files={"document": ("a", b"a")}
        )
        assert_error(document, status, description)
        assert_error(
            call(client, running, "sendChatAction", chat_id=GROUP, action="typing"), status, description
        )
        assert running.emulator.delivered() == []


# --- the control endpoint and the command line -----------------------------------------------


def test_control_endpoint_delivers_and_explains(start_telegram: StartTelegram, client: httpx.Client) -> None:
    running = start_telegram(chat_id=GROUP, faults=["telegram_down"])
    answer = client.post(running.url + CONTROL_PATH, json={"text": "/stop"}).json()
    assert answer["ok"] is True and answer["result"]["message"]["text"] == "/stop"
    for body, description in (
        (
            b"{",
            'Bad Request: expected a JSON object with "text", or "callback_data" and optionally "message_id"',
        ),
        (b'{"text": " "}', "Bad Request: message text is empty"),
        (
            b'{"callback_data": "x"}',
            "Bad Request: no inline button with callback_data 'x' on any message of the bot",
        ),
        (b'{"callback_data": "x", "message_id": "1"}', "Bad Request: message_id must be an integer"),
    ):
        assert_error(client.post(running.url + CONTROL_PATH, content=body), 400, description)
    running.emulator.set_faults([])
    result(call(client, running, "getUpdates", allowed_updates=["callback_query"]))
    filtered = client.post(running.url + CONTROL_PATH, json={"text": "hi"}).json()
    assert filtered == {
        "ok": True,
        "result": None,
        "description": "the bot's allowed_updates leave this update type out; it was not queued",
    }
    assert [r.api_method for r in running.emulator.requests()] == [
        "getUpdates"
    ]  # control calls are not Telegram's


@pytest.mark.parametrize(
    ("text", "commands"),
    [
        ("/stop", ["/stop"]),
        ("please /stop@readiness_sandbox_bot and /status", ["/stop@readiness_sandbox_bot", "/status"]),
        ("🏟 /stop", ["/stop"]),
        ("a/b /c/d <a>/e</a> /f_1", ["/f_1"]),
        ("/s@ab /x@" + "b" * 33, []),
        ("/" + "a" * 65, []),
    ],
)
def test_bot_commands_are_found_as_telegram_finds_them(text: str, commands: list[str]) -> None:
    entities = bot_command_entities(text)
    utf16 = text.encode("utf-16-le")
    found = [utf16[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le") for e in entities]
    assert found == commands


def test_readiness_sandbox_delivers_to_a_running_emulator(tg: Running) -> None:
    def readiness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "readiness.cli", "sandbox", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )

    env = {**os.environ, "TELEGRAM_API_URL": tg.url}
    done = readiness("--deliver", "/stop", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("delivered update 1: ")
    assert json.loads(done.stdout.split(": ", 1)[1])["message"]["text"] == "/stop"

    with httpx.Client(timeout=5) as http:
        http.post(tg.api("sendMessage"), json={"chat_id": GROUP, "text": "Stop?", "reply_markup": KEYBOARD})
    done = readiness("--press", "stop", "--telegram-url", tg.url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.split(": ", 1)[1])["callback_query"]["data"] == "stop"

    missing = readiness("--press", "nope", "--telegram-url", tg.url)
    assert missing.returncode == 2
    assert (
        missing.stderr
        == "readiness sandbox: Bad Request: no inline button with callback_data 'nope' on any message of the bot\n"
    )
    no_url = readiness(
        "--deliver", "/stop", env={k: v for k, v in os.environ.items() if k != "TELEGRAM_API_URL"}
    )
    assert (no_url.returncode, no_url.stderr) == (
        2,
        "readiness sandbox: give --telegram-url or set TELEGRAM_API_URL\n",
    )
    assert [u["update_id"] for u in tg.emulator.updates.peek(10)] == [1, 2]
