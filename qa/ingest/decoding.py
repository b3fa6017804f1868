"""Article bytes to text: BOMs, UTF-8, then detected legacy encodings; empty, binary and
oversized files refused."""

from __future__ import annotations

MAX_DOC_BYTES = 20 * 1024 * 1024


class BadDocument(ValueError):
    """A file that cannot be read as an article (empty, binary, too large)."""


def decode(data: bytes, name: str = "file") -> str:
    """Decode article bytes: BOMs, UTF-8, then detected legacy encodings (cp1251, ...)."""
    if not data.strip():
        raise BadDocument(f"{name}: empty file")
    if len(data) > MAX_DOC_BYTES:
        mb, limit = len(data) // (1024 * 1024), MAX_DOC_BYTES // (1024 * 1024)
        raise BadDocument(f"{name}: {mb} MB is larger than the {limit} MB limit")
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(enc, errors="replace")
    if b"\x00" not in data:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    if best is None or best.encoding is None:
        raise BadDocument(f"{name}: binary or undecodable content")
    text = data.decode(best.encoding, errors="replace")
    controls = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if "\x00" in text or controls > len(text[:20000]) * 0.01:
        raise BadDocument(f"{name}: binary or undecodable content")
    return text
