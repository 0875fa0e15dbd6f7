"""Voice notes recorded in a browser, made into what WhatsApp plays as one: OGG/Opus (no Django:
the emulator's phone page uses it too, as the desk's composer does).

Chromium's MediaRecorder writes Opus only into WebM (``audio/webm;codecs=opus``); WhatsApp takes
a voice note only as ``audio/ogg`` with the Opus codec. The Opus packets are the same in both, so
``webm_to_ogg`` copies them from the WebM blocks into Ogg pages (RFC 7845: an OpusHead page, an
OpusTags page, then the audio with its granule positions) without decoding anything. A recording
that is already Ogg (Firefox) is kept as it is.
"""

from __future__ import annotations

import struct

# Matroska/WebM element ids.
EBML = 0x1A45DFA3
SEGMENT = 0x18538067
CLUSTER = 0x1F43B675
TRACKS = 0x1654AE6B
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
CODEC_ID = 0x86
CODEC_PRIVATE = 0x63A2
SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
BLOCK = 0xA1
MASTERS = {SEGMENT, CLUSTER, TRACKS, TRACK_ENTRY, BLOCK_GROUP}

MAX_PAGE_PACKETS = 50  # about a second of 20 ms packets per Ogg page
VENDOR = b"messaging-desk"


class NotOpus(ValueError):
    """The recording is no WebM with an Opus track (or is cut short)."""


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """An EBML variable-size integer at ``pos``: (value, next position, all ones)."""
    if pos >= len(data):
        raise NotOpus("the recording ends early")
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise NotOpus("a broken WebM element")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    ones = not keep_marker and value == (1 << (7 * length)) - 1
    return value, pos + length, ones


def _elements(data: bytes, pos: int, end: int):
    """(id, start of data, end of data) of each element, descending into the masters we need
    (unknown sizes, as a live recorder writes them, run to the end of their parent)."""
    while pos < end:
        element_id, pos, _ = _vint(data, pos, keep_marker=True)
        size, pos, unknown = _vint(data, pos, keep_marker=False)
        stop = end if unknown else min(pos + size, end)
        if element_id in MASTERS:
            yield element_id, pos, stop
            yield from _elements(data, pos, stop)
            pos = stop
            continue
        yield element_id, pos, stop
        pos = stop


def opus_packets(data: bytes) -> tuple[bytes, list[bytes]]:
    """The OpusHead and the Opus packets of the first Opus track of a WebM recording."""
    if len(data) < 4 or struct.unpack(">I", data[:4])[0] != EBML:
        raise NotOpus("not a WebM file")
    head = b""
    track = None
    current: dict = {}
    packets: list[bytes] = []
    for element_id, start, stop in _elements(data, 0, len(data)):
        if element_id == TRACK_ENTRY:
            current = {}
        elif element_id == TRACK_NUMBER:
            current["number"] = int.from_bytes(data[start:stop], "big")
        elif element_id == CODEC_ID:
            current["codec"] = data[start:stop].rstrip(b"\0")
        elif element_id == CODEC_PRIVATE:
            current["private"] = data[start:stop]
        if current.get("codec") == b"A_OPUS" and "number" in current and track is None:
            track = current["number"]
        if track is not None and current.get("number") == track and current.get("private"):
            head = head or current["private"]
        if element_id in (SIMPLE_BLOCK, BLOCK) and track is not None:
            number, body, _ = _vint(data, start, keep_marker=False)
            if number != track:
                continue
            flags = data[body + 2] if body + 2 < stop else 0
            if flags & 0x06:
                raise NotOpus("laced WebM blocks are not supported")
            packets.append(data[body + 3 : stop])
    if track is None:
        raise NotOpus("the recording has no Opus track")
    if not head.startswith(b"OpusHead"):
        head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    return head, [p for p in packets if p]


def _samples(packet: bytes) -> int:
    """How many 48 kHz samples an Opus packet holds (RFC 6716, 3.1: the TOC byte)."""
    config = packet[0] >> 3
    if config < 12:
        frame = (480, 960, 1920, 2880)[config % 4]
    elif config < 16:
        frame = (480, 960)[config % 2]
    else:
        frame = (120, 240, 480, 960)[config % 4]
    code = packet[0] & 3
    frames = (
        1 if code == 0 else 2 if code in (1, 2) else (packet[1] & 0x3F if len(packet) > 1 else 0)
    )
    return frame * frames


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return table


CRC_TABLE = _crc_table()


def ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ CRC_TABLE[((crc >> 24) & 0xFF) ^ byte]
    return crc


def _page(packets: list[bytes], *, serial: int, sequence: int, granule: int, flags: int) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = bytearray(header + lacing + b"".join(packets))
    struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
    return bytes(page)


def webm_to_ogg(data: bytes, *, serial: int = 0x0DE5C0DE) -> bytes:
    """An Ogg/Opus file with the Opus packets of a WebM recording (RFC 7845)."""
    head, packets = opus_packets(data)
    if not packets:
        raise NotOpus("the recording holds no sound")
    tags = b"OpusTags" + struct.pack("<I", len(VENDOR)) + VENDOR + struct.pack("<I", 0)
    pages = [
        _page([head], serial=serial, sequence=0, granule=0, flags=0x02),
        _page([tags], serial=serial, sequence=1, granule=0, flags=0),
    ]
    granule = 0
    chunks = [packets[i : i + MAX_PAGE_PACKETS] for i in range(0, len(packets), MAX_PAGE_PACKETS)]
    for index, chunk in enumerate(chunks):
        granule += sum(_samples(p) for p in chunk)
        last = index == len(chunks) - 1
        pages.append(
            _page(
                chunk, serial=serial, sequence=2 + index, granule=granule, flags=0x04 if last else 0
            )
        )
    return b"".join(pages)


def as_voice_note(data: bytes, mime: str) -> bytes:
    """The recording as OGG/Opus: remuxed from WebM, or kept when it is Ogg already."""
    mime = (mime or "").split(";")[0].strip().lower()
    if data[:4] == b"OggS":
        return data
    if mime in ("audio/webm", "video/webm") or data[:4] == b"\x1a\x45\xdf\xa3":
        return webm_to_ogg(data)
    raise NotOpus("a voice note is recorded as WebM or Ogg with Opus")
