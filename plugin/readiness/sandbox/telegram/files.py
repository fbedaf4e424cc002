"""Files the bot sent: uploads kept in memory under reusable file ids, and getFile's downloads.

A file arrives as a multipart upload (the part named after the parameter, or ``attach://<part>``),
as a ``file_id`` answered earlier, or as an HTTP URL. The sandbox makes no outbound request, so a
URL is recorded, not fetched: its document is named after the URL's path, its photo has no
bytes to measure and is answered as :data:`URL_PHOTO_SIZE`, and getFile says it is unavailable.
"""

from __future__ import annotations

import mimetypes
import secrets
import struct
import threading
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from .protocol import ApiError, Params, Upload, bad_request

#: Largest upload Telegram accepts from a bot (sendDocument), in bytes.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: Width and height reported for a photo sent by URL (the sandbox does not download it).
URL_PHOTO_SIZE = (800, 600)
#: Longest sides of the sizes Telegram makes of a photo (its "s", "m", "x", "y" and "w" sizes).
_PHOTO_SIDES = (90, 320, 800, 1280, 2560)
#: file_id prefixes of real ids, by kind (Telegram encodes the type first).
_ID_PREFIX = {"document": "BQACAgIAAxkBAAI", "photo": "AgACAgIAAxkBAAI"}
_TYPE_NAME = {"document": "Document", "photo": "Photo"}
_DIRECTORY = {"document": "documents", "photo": "photos"}


@dataclass(frozen=True)
class StoredFile:
    """One file (or one size of a photo) the emulator holds."""

    kind: str
    """``document`` or ``photo``."""
    file_id: str
    file_unique_id: str
    data: bytes | None
    """The bytes uploaded; None when sent by URL."""
    file_name: str = ""
    mime_type: str = ""
    width: int = 0
    height: int = 0
    file_path: str = ""

    def identity(self) -> dict[str, Any]:
        """The fields every Bot API file object carries."""
        fields: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.data is not None:
            fields["file_size"] = len(self.data)
        return fields

    def document(self) -> dict[str, Any]:
        """As a Document."""
        named = {"file_name": self.file_name} if self.file_name else {}
        typed = {"mime_type": self.mime_type} if self.mime_type else {}
        return named | typed | self.identity()

    def photo_size(self) -> dict[str, Any]:
        """As a PhotoSize."""
        return self.identity() | {"width": self.width, "height": self.height}

    def as_file(self) -> dict[str, Any]:
        """As getFile's File (with the path to download it from)."""
        return self.identity() | {"file_path": self.file_path}


class FileStore:
    """Every file sent so far, by file_id; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[StoredFile, ...]] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._count = 0

    def resolve(self, params: Params, kind: str) -> tuple[StoredFile, ...]:
        """The file a send method names in its ``kind`` parameter (``document``, ``photo``): one
        document, or a photo's sizes, smallest first."""
        value = params.text(kind)
        upload: Upload | None = None
        if value.startswith("attach://"):
            upload = params.files.get(value.removeprefix("attach://"))
        elif not value:
            upload = params.files.get(kind)
        elif value.lower().startswith(("http://", "https://")):
            return self._add_url(kind, value)
        else:
            return self._reuse(kind, value)
        if upload is None:
            raise bad_request(f"there is no {kind} in the request")
        if not upload.data:
            raise bad_request("file must be non-empty")
        if len(upload.data) > MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        if kind == "photo":
            return self._add_photo(upload)
        return self._register(
            self._new(kind, upload.data, file_name=upload.filename, mime_type=_mime_type(upload))
        )

    def by_id(self, file_id: str) -> StoredFile | None:
        with self._lock:
            sizes = self._by_id.get(file_id, ())
        return next((size for size in sizes if size.file_id == file_id), None)

    def by_path(self, file_path: str) -> StoredFile | None:
        with self._lock:
            return self._by_path.get(file_path)

    def _reuse(self, kind: str, file_id: str) -> tuple[StoredFile, ...]:
        with self._lock:
            sizes = self._by_id.get(file_id)
        if sizes is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if sizes[0].kind != kind:
            raise bad_request(f"can't use file of type {_TYPE_NAME[sizes[0].kind]} as {_TYPE_NAME[kind]}")
        return sizes

    def _add_url(self, kind: str, url: str) -> tuple[StoredFile, ...]:
        if kind == "photo":
            width, height = URL_PHOTO_SIZE
            return self._register(self._new("photo", None, width=width, height=height))
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        return self._register(self._new(kind, None, file_name=name, mime_type=_guess_type(name)))

    def _add_photo(self, upload: Upload) -> tuple[StoredFile, ...]:
        width, height = _image_size(upload.data)
        if width + height > 10_000 or max(width, height) > 20 * min(width, height):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        sizes = []
        for side in _PHOTO_SIDES:
            scale = min(1.0, side / max(width, height))
            scaled = (max(1, round(width * scale)), max(1, round(height * scale)))
            original = scale == 1.0 or side == _PHOTO_SIDES[-1]
            sizes.append(
                self._new("photo", upload.data if original else None, width=scaled[0], height=scaled[1])
            )
            if original:
                break
        return self._register(*sizes)

    def _new(self, kind: str, data: bytes | None, **fields: Any) -> StoredFile:
        with self._lock:
            self._count += 1
            count = self._count
        suffix = PurePosixPath(fields.get("file_name", "")).suffix if kind == "document" else ".jpg"
        return StoredFile(
            kind=kind,
            file_id=_ID_PREFIX[kind] + secrets.token_urlsafe(45),
            file_unique_id="AgAD" + secrets.token_urlsafe(9),
            data=data,
            file_path=f"{_DIRECTORY[kind]}/file_{count}{suffix}" if data is not None else "",
            **fields,
        )

    def _register(self, *sizes: StoredFile) -> tuple[StoredFile, ...]:
        with self._lock:
            for size in sizes:
                self._by_id[size.file_id] = sizes
                if size.data is not None:
                    self._by_path[size.file_path] = size
        return sizes


def _mime_type(upload: Upload) -> str:
    guessed = _guess_type(upload.filename)
    if guessed:
        return guessed
    return "" if upload.content_type == "application/octet-stream" else upload.content_type


def _guess_type(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or ""


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, GIF, BMP or JPEG; Telegram's 400 for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
    elif data.startswith(b"BM") and len(data) >= 26:
        width, height = (abs(side) for side in struct.unpack("<ii", data[18:26]))
    elif data.startswith(b"\xff\xd8"):
        width, height = _jpeg_size(data)
    else:
        width = height = 0
    if width <= 0 or height <= 0:
        raise bad_request("IMAGE_PROCESS_FAILED")
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Read the frame header (SOFn) of a JPEG; (0, 0) when there is none."""
    i = 2
    while i + 9 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return 0, 0
