"""``reply_markup`` as telegram-bot-api reads it (its errors, word for word) and echoes it back.

Only an inline keyboard is part of the sent Message; reply keyboards, their removal and
force-reply are checked and then shown to the user, not to the bot.
"""

from __future__ import annotations

from typing import Any

from .protocol import Params, bad_request

#: Longest ``callback_data``, in bytes.
MAX_CALLBACK_DATA = 64
_INLINE_KINDS = (
    "url",
    "callback_data",
    "callback_game",
    "pay",
    "switch_inline_query",
    "switch_inline_query_chosen_chat",
    "switch_inline_query_current_chat",
    "login_url",
    "web_app",
    "copy_text",
)
_FLAGS = ("hide_keyboard", "remove_keyboard", "personal_keyboard", "selective", "force_reply_keyboard")
_KEYBOARD_FLAGS = ("resize_keyboard", "one_time_keyboard", "is_persistent")


def reply_markup(params: Params) -> dict[str, Any] | None:
    """Validate ``reply_markup``; return the InlineKeyboardMarkup the Message carries, if any."""
    if not params.text("reply_markup"):
        return None
    value = params.json("reply_markup", "reply keyboard markup")
    if not isinstance(value, dict):
        raise bad_request("object expected as reply markup")
    rows = _array_of_arrays(value, "keyboard", 'field "keyboard" must be an Array of Arrays')
    for button in (button for row in rows for button in row):
        _check_keyboard_button(button)
    inline_rows = _array_of_arrays(
        value,
        "inline_keyboard",
        'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
    )
    echoed = [[_inline_button(button) for button in row] for row in inline_rows]
    for name in (*_FLAGS, "force_reply", *(_KEYBOARD_FLAGS if rows else ())):
        if name in value and not isinstance(value[name], bool):
            raise bad_request(f'field "{name}" must be of type Boolean')
    if "input_field_placeholder" in value and not _is_string(value["input_field_placeholder"]):
        raise bad_request('field "input_field_placeholder" must be of type String')
    if rows or not echoed:
        return None
    return {"inline_keyboard": echoed}


def callback_data(markup: dict[str, Any] | None) -> list[str]:
    """Every ``callback_data`` of an inline keyboard, row by row."""
    rows = (markup or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row if "callback_data" in button]


def _array_of_arrays(value: dict[str, Any], name: str, not_nested: str) -> list[list[Any]]:
    rows = value.get(name, [])
    if not isinstance(rows, list):
        raise bad_request(f'field "{name}" must be of type Array')
    if not all(isinstance(row, list) for row in rows):
        raise bad_request(not_nested)
    return rows


def _check_keyboard_button(button: Any) -> None:
    if isinstance(button, str):
        return
    if not isinstance(button, dict):
        raise bad_request("can't parse keyboard button: KeyboardButton must be a String or an Object")
    _text(button, "can't parse keyboard button")


def _inline_button(button: Any) -> dict[str, Any]:
    """The button as the Message shows it: its text and the one action it has."""
    problem = "can't parse inline keyboard button"
    if not isinstance(button, dict):
        raise bad_request(f"{problem}: InlineKeyboardButton must be an Object")
    text = _text(button, problem)
    for kind in _INLINE_KINDS:
        action = button.get(kind)
        if kind in ("url", "callback_data"):
            if action is not None and not _is_string(action):
                raise bad_request(f'{problem}: Field "{kind}" must be of type String')
            if action in (None, ""):
                continue
            action = str(action)
            if kind == "callback_data" and len(action.encode()) > MAX_CALLBACK_DATA:
                raise bad_request("BUTTON_DATA_INVALID")
        elif kind not in button:
            continue
        return {"text": text, kind: action}
    raise bad_request(f"{problem}: Text buttons are unallowed in the inline keyboard")


def _text(button: dict[str, Any], problem: str) -> str:
    if "text" not in button:
        raise bad_request(f'{problem}: Can\'t find field "text"')
    text = button["text"]
    if not _is_string(text):
        raise bad_request(f'{problem}: Field "text" must be of type String')
    return str(text)


def _is_string(value: Any) -> bool:
    """What TDLib's JSON reader takes as a String field: a string or a number."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)
