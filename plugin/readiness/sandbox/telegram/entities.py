"""Telegram's ``parse_mode`` parsers, ported from TDLib's MessageEntity.cpp.

``parse_html``, ``parse_markdown_v2`` and ``parse_markdown`` work on UTF-8 bytes as TDLib does, so
error messages and byte offsets match Telegram's exactly; entity offsets are in UTF-16 code units
as the Bot API counts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit


class EntityParseError(ValueError):
    """Text that Telegram would reject under its ``parse_mode``; the message is TDLib's."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's text limits and entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


#: ``parse_mode`` values Telegram accepts (any case) -> canonical name.
PARSE_MODES = {"html": "HTML", "markdownv2": "MarkdownV2", "markdown": "Markdown"}

_SPACES = frozenset(b" \t\r\n\0\v")
_HTML_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler", "tg-emoji"}
    | {"span", "pre", "code", "blockquote"}
)
_HTML_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
}
# TDLib's order for entities sharing offset and length.
_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}
_V2_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "precode": "PreCode",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and Bot API entities of ``text`` under ``parse_mode`` (None: no markup)."""
    if parse_mode == "HTML":
        return parse_html(text)
    if parse_mode == "MarkdownV2":
        return parse_markdown_v2(text)
    if parse_mode == "Markdown":
        return parse_markdown(text)
    return text, []


class _Bytes:
    """UTF-8 bytes read C-style: past the end reads as NUL, as TDLib relies on."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8", "surrogatepass")
        self.size = len(self.data)

    def __getitem__(self, index: int) -> int:
        return self.data[index] if index < self.size else 0


class _Output:
    """Plain text being built, with its length in UTF-16 code units (entity offsets)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.utf16 = 0
        self.entities: list[dict[str, Any]] = []

    def byte(self, c: int) -> None:
        self.data.append(c)
        if c & 0xC0 != 0x80:
            self.utf16 += 2 if c >= 0xF0 else 1

    def char(self, code_point: int) -> None:
        self.data += chr(code_point).encode("utf-8", "surrogatepass")
        self.utf16 += 2 if code_point > 0xFFFF else 1

    def entity(self, kind: str, offset: int, **extra: Any) -> None:
        if self.utf16 > offset:
            self.entities.append({"type": kind, "offset": offset, "length": self.utf16 - offset} | extra)

    def finish(self) -> tuple[str, list[dict[str, Any]]]:
        try:
            text = self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            ) from None
        self.entities.sort(key=lambda e: (e["offset"], -e["length"], _PRIORITY.get(e["type"], 50)))
        return text, [{k: v for k, v in e.items() if not k.startswith("_")} for e in self.entities]


def _decode_html_entity(text: _Bytes, pos: int) -> tuple[int, int] | None:
    """Code point of the character reference at ``pos`` and the position after it, or None."""
    end = pos + 1
    code = 0
    if text[pos + 1] == ord("#"):
        end += 1
        hexadecimal = text[pos + 2] == ord("x")
        end += hexadecimal
        digits = b"0123456789abcdefABCDEF" if hexadecimal else b"0123456789"
        while text[end] and text[end] in digits:
            code = code * (16 if hexadecimal else 10) + int(chr(text[end]), 16)
            end += 1
            if code >= 0x10FFFF:
                return None
        if code == 0 or end - pos >= 10:
            return None
    else:
        while chr(text[end]).isascii() and chr(text[end]).isalpha():
            end += 1
        named = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}.get(text.data[pos + 1 : end])
        if named is None:
            return None
        code = named
    return code, end + 1 if text[end] == ord(";") else end


def _normalize_url(url: str) -> str | None:
    """The URL as Telegram stores it (scheme and path added), or None if it is not one."""
    if not url or any(c.isspace() for c in url):
        return None
    if "://" not in url:
        url = "http://" + url
    scheme, rest = url.split("://", 1)
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not host or (scheme.lower() in ("http", "https") and "." not in host):
        return None
    if scheme.lower() in ("http", "https") and len(host) == len(rest):
        url += "/"
    elif scheme.lower() in ("http", "https") and rest[len(host)] in "?#":
        url = f"{scheme}://{host}/{rest[len(host) :]}"
    return url


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int
    """UTF-16 offset of the tag's content in the plain text."""
    begin: int
    """Byte offset of the ``<`` in the markup (error messages)."""
    out_begin: int
    """Byte offset of the tag's content in the plain text."""
    expandable: bool = False


def parse_html(html: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode; raises EntityParseError with TDLib's message."""
    text = _Bytes(html)
    out = _Output()
    nested: list[_OpenTag] = []
    i = 0
    while i < text.size:
        c = text[i]
        if c == ord("&"):
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                out.char(decoded[0])
                i = decoded[1]
                continue
        if c != ord("<"):
            out.byte(c)
            i += 1
            continue
        begin = i
        i += 1
        if text[i] != ord("/"):
            while text[i] not in _SPACES and text[i] != ord(">"):
                i += 1
            if text[i] == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = text.data[begin + 1 : i].lower().decode("utf-8", "replace")
            if tag not in _HTML_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            opened = _OpenTag(tag, "", out.utf16, begin, len(out.data))
            i = _parse_html_attributes(text, i, opened)
            nested.append(opened)
        else:
            if not nested:
                raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
            while text[i] not in _SPACES and text[i] != ord(">"):
                i += 1
            end_tag = text.data[begin + 2 : i].decode("utf-8", "replace")
            while text[i] in _SPACES and text[i] != 0:
                i += 1
            if text[i] != ord(">"):
                raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
            opened = nested.pop()
            if end_tag and end_tag.lower() != opened.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {begin}, "
                    f'expected "</{opened.name}>", found "</{end_tag}>"'
                )
            _close_html_tag(out, opened)
        i += 1
    if nested:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1].name}"')
    return out.finish()


def _parse_html_attributes(text: _Bytes, i: int, opened: _OpenTag) -> int:
    """Read a start tag's attributes from ``i``; return the position of its closing ``>``."""
    tag, begin = opened.name, opened.begin
    while text[i] != ord(">"):
        while text[i] != 0 and text[i] in _SPACES:
            i += 1
        if text[i] == ord(">"):
            break
        if text[i] == 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        name_begin = i
        while text[i] not in _SPACES and text[i] not in (ord("="), ord(">")):
            i += 1
        name = text.data[name_begin:i].decode("utf-8", "replace")
        if not name:
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
        while text[i] != 0 and text[i] in _SPACES:
            i += 1
        if tag == "blockquote" and name == "expandable":
            opened.expandable = True
        if text[i] != ord("="):
            continue
        i += 1
        while text[i] != 0 and text[i] in _SPACES:
            i += 1
        if text[i] == 0:
            raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
        value = bytearray()
        if text[i] not in (ord("'"), ord('"')):
            token_begin = i
            while chr(text[i]).isascii() and (chr(text[i]).isalnum() or text[i] in b".-"):
                i += 1
            value += text.data[token_begin:i].lower()
            if text[i] not in _SPACES and text[i] != ord(">"):
                raise EntityParseError(f"Unexpected end of name token at byte offset {token_begin}")
        else:
            quote = text[i]
            i += 1
            while text[i] != quote and text[i] != 0:
                decoded = _decode_html_entity(text, i) if text[i] == ord("&") else None
                if decoded is not None:
                    value += chr(decoded[0]).encode("utf-8", "surrogatepass")
                    i = decoded[1]
                    continue
                value.append(text[i])
                i += 1
            if text[i] == quote:
                i += 1
        if text[i] == 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        argument = value.decode("utf-8", "replace")
        if tag == "a" and name == "href":
            opened.argument = argument
        elif tag == "code" and name == "class" and argument.startswith("language-"):
            opened.argument = argument[len("language-") :]
        elif tag == "span" and name == "class" and argument.startswith("tg-"):
            opened.argument = argument[len("tg-") :]
        elif tag == "tg-emoji" and name == "emoji-id":
            opened.argument = argument
    if tag == "span" and opened.argument != "spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    return i


def _close_html_tag(out: _Output, opened: _OpenTag) -> None:
    tag, offset = opened.name, opened.offset
    if out.utf16 <= offset:
        return
    if tag == "a":
        inner = out.data[opened.out_begin :].decode("utf-8", "replace")
        url = _normalize_url(opened.argument or inner)
        if url is not None:
            out.entity("text_link", offset, url=url)
    elif tag == "tg-emoji":
        if not opened.argument.isdigit() or int(opened.argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        out.entity("custom_emoji", offset, custom_emoji_id=opened.argument)
    elif tag == "blockquote":
        out.entity("expandable_blockquote" if opened.expandable else "blockquote", offset)
    elif tag in ("pre", "code"):
        _close_pre_or_code(out, opened)
    else:
        out.entity(_HTML_TYPES[tag], offset)


def _close_pre_or_code(out: _Output, opened: _OpenTag) -> None:
    """``<pre><code class="language-x">`` (either nesting) becomes one ``pre`` with a language."""
    length = out.utf16 - opened.offset
    last = out.entities[-1] if out.entities else None
    same_span = last is not None and last["offset"] == opened.offset and last["length"] == length
    if last is not None and same_span and {last["type"], opened.name} == {"pre", "code"}:
        language = last.pop("_language", "") or (opened.argument if opened.name == "code" else "")
        if language:
            out.entities[-1] = {"type": "pre", "offset": opened.offset, "length": length}
            out.entities[-1]["language"] = language
            return
    if opened.name == "code" and opened.argument:
        out.entity("code", opened.offset, _language=opened.argument)
    else:
        out.entity(opened.name, opened.offset)


@dataclass
class _OpenMarkdown:
    kind: str
    argument: str
    offset: int
    byte_offset: int
    begin: int


def parse_markdown_v2(markdown: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's MarkdownV2 parse mode; raises EntityParseError with TDLib's message."""
    text = _Bytes(markdown)
    out = _Output()
    nested: list[_OpenMarkdown] = []
    quote_offset: int | None = None
    i = 0
    while i < text.size:
        c = text[i]
        if c == ord("\\") and 0 < text[i + 1] <= 126:
            out.byte(text[i + 1])
            i += 2
            continue
        inside_code = bool(nested) and nested[-1].kind in ("code", "pre", "precode")
        at_line_start = not out.data or out.data[-1] in b"\r\n"
        if not inside_code and c == ord(">") and at_line_start:
            if quote_offset is None:
                quote_offset = out.utf16
            i += 1
            continue
        if not inside_code and c == ord("\n") and quote_offset is not None and text[i + 1] != ord(">"):
            out.byte(c)
            out.entity("blockquote", quote_offset)
            quote_offset = None
            i += 1
            continue
        reserved = b"`" if inside_code else b"_*[]()~`>#+-=|{}.!"
        if c not in reserved:
            out.byte(c)
            i += 1
            continue
        top = nested[-1].kind if nested else None
        closes = (
            (top == "bold" and c == ord("*"))
            or (top == "italic" and c == ord("_") and text[i + 1] != ord("_"))
            or (top == "underline" and c == ord("_") and text[i + 1] == ord("_"))
            or (top == "strikethrough" and c == ord("~"))
            or (top == "spoiler" and c == ord("|") and text[i + 1] == ord("|"))
            or (top == "code" and c == ord("`"))
            or (top in ("pre", "precode") and text.data[i : i + 3] == b"```")
            or (top in ("text_link", "custom_emoji") and c == ord("]"))
        )
        if closes:
            i = _close_markdown_v2(text, i, out, nested.pop())
        else:
            i = _open_markdown_v2(text, i, out, nested)
        i += 1
    if nested:
        kind, byte_offset = _V2_TYPE_NAMES[nested[-1].kind], nested[-1].byte_offset
        raise EntityParseError(f"Can't find end of {kind} entity at byte offset {byte_offset}")
    if quote_offset is not None:
        out.entity("blockquote", quote_offset)
    return out.finish()


def _reserved(c: int) -> EntityParseError:
    return EntityParseError(f"Character '{chr(c)}' is reserved and must be escaped with the preceding '\\'")


def _open_markdown_v2(text: _Bytes, i: int, out: _Output, nested: list[_OpenMarkdown]) -> int:
    c = text[i]
    byte_offset = i
    argument = ""
    if c == ord("_"):
        kind = "underline" if text[i + 1] == ord("_") else "italic"
        i += kind == "underline"
    elif c == ord("*"):
        kind = "bold"
    elif c == ord("~"):
        kind = "strikethrough"
    elif c == ord("|") and text[i + 1] == ord("|"):
        kind = "spoiler"
        i += 1
    elif c == ord("["):
        kind = "text_link"
    elif c == ord("!") and text[i + 1] == ord("["):
        kind = "custom_emoji"
        i += 1
    elif c == ord("`") and text.data[i : i + 3] == b"```":
        i += 3
        kind = "pre"
        language_end = i
        while text[language_end] not in _SPACES and text[language_end] != ord("`"):
            language_end += 1
        if i != language_end and language_end < text.size and text[language_end] != ord("`"):
            kind = "precode"
            argument = text.data[i:language_end].decode("utf-8", "replace")
            i = language_end
        i = _skip_one_newline(text, i) - 1
    elif c == ord("`"):
        kind = "code"
    else:
        raise _reserved(c)
    nested.append(_OpenMarkdown(kind, argument, out.utf16, byte_offset, len(out.data)))
    return i


def _skip_one_newline(text: _Bytes, i: int) -> int:
    if text[i] in b"\r\n" and text[i]:
        pair = text[i + 1] in b"\r\n" and text[i + 1] and text[i] != text[i + 1]
        return i + (2 if pair else 1)
    return i


def _close_markdown_v2(text: _Bytes, i: int, out: _Output, opened: _OpenMarkdown) -> int:
    kind, offset = opened.kind, opened.offset
    if kind in ("underline", "spoiler"):
        i += 1
    elif kind in ("pre", "precode"):
        i += 2
    elif kind in ("text_link", "custom_emoji"):
        url = ""
        if text[i + 1] != ord("("):
            if kind == "custom_emoji":
                raise EntityParseError("The entity must contain a tg://emoji or tg://time URL")
            url = out.data[opened.begin :].decode("utf-8", "replace")
        else:
            i += 2
            url_begin = i
            raw = bytearray()
            while i < text.size and text[i] != ord(")"):
                if text[i] == ord("\\") and 0 < text[i + 1] <= 126:
                    raw.append(text[i + 1])
                    i += 2
                    continue
                raw.append(text[i])
                i += 1
            if text[i] != ord(")"):
                raise EntityParseError(f"Can't find end of a URL at byte offset {url_begin}")
            url = raw.decode("utf-8", "replace")
        if kind == "custom_emoji":
            out.entity("custom_emoji", offset, custom_emoji_id=_custom_emoji_id(url))
            return i
        normalized = _normalize_url(url)
        if normalized is not None:
            out.entity("text_link", offset, url=normalized)
        return i
    if kind == "precode":
        out.entity("pre", offset, language=opened.argument)
    else:
        out.entity(kind, offset)
    return i


def _custom_emoji_id(url: str) -> str:
    parts = urlsplit(url)
    ids = parse_qs(parts.query).get("id", [""])
    if (
        parts.scheme.lower() != "tg"
        or parts.netloc.lower() != "emoji"
        or parts.path not in ("", "/")
        or not ids[0].isdigit()
        or ids[0].startswith("0")
    ):
        raise EntityParseError("Invalid tg://emoji or tg://time URL specified")
    return ids[0]


def parse_markdown(markdown: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's legacy Markdown parse mode; raises EntityParseError with TDLib's message."""
    text = _Bytes(markdown)
    out = _Output()
    i = 0
    while i < text.size:
        c = text[i]
        if c == ord("\\") and text[i + 1] in b"_*`[" and text[i + 1]:
            out.byte(text[i + 1])
            i += 2
            continue
        if c not in b"_*`[":
            out.byte(c)
            i += 1
            continue
        begin = i
        end_character = ord("]") if c == ord("[") else c
        i += 1
        is_pre = False
        language = ""
        if c == ord("`") and text[i] == ord("`") and text[i + 1] == ord("`"):
            i += 2
            is_pre = True
            language_end = i
            while text[language_end] not in _SPACES and text[language_end] != ord("`"):
                language_end += 1
            if i != language_end and language_end < text.size and text[language_end] != ord("`"):
                language = text.data[i:language_end].decode("utf-8", "replace")
                i = language_end
            i = _skip_one_newline(text, i)
        offset, inner_begin = out.utf16, len(out.data)
        while i < text.size and (
            text[i] != end_character or (is_pre and not (text[i + 1] == ord("`") and text[i + 2] == ord("`")))
        ):
            out.byte(text[i])
            i += 1
        if i == text.size:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {begin}")
        if c == ord("["):
            url = out.data[inner_begin:].decode("utf-8", "replace")
            if text[i + 1] == ord("("):
                i += 2
                url_begin = i
                while i < text.size and text[i] != ord(")"):
                    i += 1
                url = text.data[url_begin:i].decode("utf-8", "replace")
            normalized = _normalize_url(url)
            if normalized is not None:
                out.entity("text_link", offset, url=normalized)
        elif is_pre:
            out.entity("pre", offset, **({"language": language} if language else {}))
            i += 2
        else:
            out.entity({"_": "italic", "*": "bold", "`": "code"}[chr(c)], offset)
        i += 1
    return out.finish()


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` entities Telegram finds in a user's plain text (TDLib's match_bot_commands).

    A command is ``/`` plus 1-64 of ``[A-Za-z0-9_]``, optionally ``@`` and a 3-32 character bot
    username, neither glued to a word character nor to ``/``, ``<`` or ``>``.
    """
    entities: list[dict[str, Any]] = []
    for match in _BOT_COMMAND.finditer(text):
        command, mention = match.group(1), match.group(2)
        if len(command) > 64 or (mention is not None and not 3 <= len(mention) - 1 <= 32):
            continue
        offset = utf16_len(text[: match.start()])
        entities.append({"type": "bot_command", "offset": offset, "length": utf16_len(match.group(0))})
    return entities


_BOT_COMMAND = re.compile(r"(?<![\w/<>])/([A-Za-z0-9_]+)(@[A-Za-z0-9_]*)?(?![\w/<>])")
