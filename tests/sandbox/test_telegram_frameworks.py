"""Real bot frameworks against the Telegram emulator, unchanged, over loopback.

python-telegram-bot's ``Application`` and aiogram's ``Dispatcher`` start polling as they do
against Telegram, receive a ``/stop`` the operator delivers through the control endpoint, answer
it and the button it offers; their ``Bot`` objects send, edit and delete messages, upload and
download a document, send a photo, a chat action and the command list, and read Telegram's
errors as they would from the real API.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiogram
import httpx
import pytest
import telegram
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from readiness.sandbox.telegram.control import CONTROL_PATH

from .telegram_helpers import GROUP, Running, png

STOP_KEYBOARD = [[("Confirm stop", "confirm")]]


async def operator_says(running: Running, payload: dict[str, Any]) -> dict[str, Any]:
    """What ``readiness sandbox --deliver/--press`` does: one POST to the control endpoint."""
    async with httpx.AsyncClient(timeout=5) as http:
        answer: dict[str, Any] = (await http.post(running.url + CONTROL_PATH, json=payload)).json()
    assert answer["ok"] is True, answer
    return answer


def api_calls(running: Running) -> list[tuple[str, int | None]]:
    return [(r.api_method, r.status) for r in running.emulator.requests()]


# --- python-telegram-bot ---------------------------------------------------------------------


def ptb_application(running: Running) -> Application:  # type: ignore[type-arg]
    return (
        Application.builder()
        .token(running.emulator.token)
        .base_url(f"{running.url}/bot")
        .base_file_url(f"{running.url}/file/bot")
        .build()
    )


@pytest.mark.asyncio
async def test_ptb_application_polls_and_answers_a_delivered_stop(tg: Running) -> None:
    stopped, confirmed = asyncio.Event(), asyncio.Event()

    async def stop(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        keyboard = telegram.InlineKeyboardMarkup(
            [
                [telegram.InlineKeyboardButton(text, callback_data=data) for text, data in row]
                for row in STOP_KEYBOARD
            ]
        )
        await update.message.reply_text("Stopping: confirm?", reply_markup=keyboard)
        stopped.set()

    async def confirm(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("Stopped")
        await update.callback_query.edit_message_text("Stopped.")
        confirmed.set()

    application = ptb_application(tg)
    application.add_handler(CommandHandler("stop", stop))
    application.add_handler(CallbackQueryHandler(confirm, pattern="^confirm$"))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=5)
        await operator_says(tg, {"text": "/stop"})
        await asyncio.wait_for(stopped.wait(), 5)
        await operator_says(tg, {"callback_data": "confirm"})
        await asyncio.wait_for(confirmed.wait(), 5)
        await application.updater.stop()
        await application.stop()

    (reply,) = tg.emulator.delivered()
    assert reply.text == "Stopping: confirm?"
    assert tg.emulator.message(reply.message_id)["text"] == "Stopped."  # type: ignore[index]
    calls = api_calls(tg)
    assert calls[:3] == [("getMe", 200), ("deleteWebhook", 200), ("getUpdates", 200)]
    assert ("answerCallbackQuery", 200) in calls and ("editMessageText", 200) in calls
    assert tg.emulator.updates.pending_count() == 0  # PTB confirmed what it handled when stopping


@pytest.mark.asyncio
async def test_ptb_bot_sends_edits_deletes_and_uploads(tg: Running) -> None:
    async with ptb_application(tg) as application:
        bot = application.bot
        chat = await bot.get_chat(GROUP)
        assert (chat.type, chat.title, chat.max_reaction_count) == ("supergroup", "Readiness Alerts", 11)
        assert chat.accepted_gift_types is not None

        sent = await bot.send_message(GROUP, "<b>Kill switch</b> armed", parse_mode="HTML")
        assert sent.text == "Kill switch armed" and sent.entities[0].type == "bold"
        edited = await bot.edit_message_text("disarmed", chat_id=GROUP, message_id=sent.message_id)
        assert isinstance(edited, telegram.Message) and edited.edit_date is not None
        with pytest.raises(telegram.error.BadRequest, match=r"^Message is not modified: "):
            await bot.edit_message_text("disarmed", chat_id=GROUP, message_id=sent.message_id)
        assert await bot.delete_message(GROUP, sent.message_id) is True
        with pytest.raises(telegram.error.BadRequest, match=r"^Message to delete not found$"):
            await bot.delete_message(GROUP, sent.message_id)
        with pytest.raises(telegram.error.BadRequest, match=r"^Message to edit not found$"):
            await bot.edit_message_text("x", chat_id=GROUP, message_id=sent.message_id)

        document = await bot.send_document(
            GROUP, io.BytesIO(b"pnl,1.5\n"), filename="pnl.csv", caption="daily"
        )
        assert document.document is not None and document.document.file_name == "pnl.csv"
        file = await bot.get_file(document.document.file_id)
        assert bytes(await file.download_as_bytearray()) == b"pnl,1.5\n"
        again = await bot.send_document(GROUP, document.document.file_id)
        assert (
            again.document is not None and again.document.file_unique_id == document.document.file_unique_id
        )
        photo = await bot.send_photo(GROUP, png(640, 480), caption="chart")
        assert [(size.width, size.height) for size in photo.photo][-1] == (640, 480)

        assert await bot.send_chat_action(GROUP, telegram.constants.ChatAction.UPLOAD_DOCUMENT) is True
        commands = [telegram.BotCommand("stop", "Stop trading"), telegram.BotCommand("status", "PnL")]
        assert await bot.set_my_commands(commands) is True
        assert await bot.get_my_commands() == tuple(commands)
        assert await bot.delete_my_commands() is True
        with pytest.raises(telegram.error.BadRequest, match=r"^Chat not found$"):
            await bot.send_message(42, "nobody")
    assert [m.kind for m in tg.emulator.delivered()] == ["text", "document", "document", "photo"]


# --- aiogram 3 -------------------------------------------------------------------------------


def aiogram_bot(running: Running) -> aiogram.Bot:
    return aiogram.Bot(
        running.emulator.token, session=AiohttpSession(api=TelegramAPIServer.from_base(running.url))
    )


@pytest.mark.asyncio
async def test_aiogram_dispatcher_polls_and_answers_a_delivered_stop(tg: Running) -> None:
    stopped, confirmed = asyncio.Event(), asyncio.Event()
    dispatcher = aiogram.Dispatcher()

    @dispatcher.message(Command("stop"))
    async def stop(message: aiogram.types.Message) -> None:
        buttons = [
            [aiogram.types.InlineKeyboardButton(text=t, callback_data=d) for t, d in row]
            for row in STOP_KEYBOARD
        ]
        await message.reply(
            "Stopping: confirm?", reply_markup=aiogram.types.InlineKeyboardMarkup(inline_keyboard=buttons)
        )
        stopped.set()

    @dispatcher.callback_query(aiogram.F.data == "confirm")
    async def confirm(query: aiogram.types.CallbackQuery) -> None:
        await query.answer("Stopped")
        confirmed.set()

    polling = asyncio.create_task(
        dispatcher.start_polling(aiogram_bot(tg), handle_signals=False, polling_timeout=5)
    )
    try:
        update = (await operator_says(tg, {"text": "/stop"}))["result"]
        await asyncio.wait_for(stopped.wait(), 5)
        await operator_says(tg, {"callback_data": "confirm"})
        await asyncio.wait_for(confirmed.wait(), 5)
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, 5)

    (reply,) = tg.emulator.delivered()
    message = tg.emulator.message(reply.message_id)
    assert message is not None
    assert message["reply_to_message"]["message_id"] == update["message"]["message_id"]
    assert message["reply_markup"] == {
        "inline_keyboard": [[{"text": "Confirm stop", "callback_data": "confirm"}]]
    }
    calls = api_calls(tg)
    assert calls[:2] == [("getMe", 200), ("getUpdates", 200)]
    assert ("answerCallbackQuery", 200) in calls


@pytest.mark.asyncio
async def test_aiogram_bot_validates_chat_and_sends_edits_deletes_and_uploads(tg: Running) -> None:
    bot = aiogram_bot(tg)
    try:
        chat = await bot.get_chat(GROUP)  # pydantic validation of the current ChatFullInfo
        assert isinstance(chat, aiogram.types.ChatFullInfo) and chat.accepted_gift_types is not None

        sent = await bot.send_message(GROUP, "*loss* 12\\.5 USDT", parse_mode="MarkdownV2")
        assert sent.text == "loss 12.5 USDT"
        edited = await bot.edit_message_text(text="recovered", chat_id=GROUP, message_id=sent.message_id)
        assert isinstance(edited, aiogram.types.Message) and edited.text == "recovered"
        assert await bot.delete_message(GROUP, sent.message_id) is True
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_text(text="x", chat_id=GROUP, message_id=sent.message_id)
        too_long = aiogram.types.InlineKeyboardButton(text="x", callback_data="x" * 65)
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            markup = aiogram.types.InlineKeyboardMarkup(inline_keyboard=[[too_long]])
            await bot.send_message(GROUP, "x", reply_markup=markup)

        upload = aiogram.types.BufferedInputFile(b"orders\n", filename="orders.csv")
        document = await bot.send_document(GROUP, upload, caption="today")
        assert document.document is not None and document.document.mime_type == "text/csv"
        downloaded = await bot.download(document.document.file_id)
        assert downloaded is not None and downloaded.read() == b"orders\n"
        photo = await bot.send_photo(GROUP, aiogram.types.BufferedInputFile(png(320, 200), filename="c.png"))
        assert photo.photo is not None and (photo.photo[-1].width, photo.photo[-1].height) == (320, 200)

        assert await bot.send_chat_action(GROUP, "typing") is True
        commands = [aiogram.types.BotCommand(command="stop", description="Stop trading")]
        scope = aiogram.types.BotCommandScopeChat(chat_id=GROUP)
        assert await bot.set_my_commands(commands, scope=scope, language_code="en") is True
        listed = await bot.get_my_commands(scope=scope, language_code="en")
        assert [(c.command, c.description) for c in listed] == [("stop", "Stop trading")]
        assert await bot.get_my_commands() == []
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await bot.session.close()
