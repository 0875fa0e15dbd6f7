"""The browser's voice recording made into WhatsApp's voice format (channels_app.whatsapp.voice):
a WebM/Opus recording from Chromium's MediaRecorder (tests/fixtures/voice/recording.webm, 1.5 s
of a 440 Hz tone) becomes a valid Ogg/Opus file: checksummed pages, OpusHead first, OpusTags
second, the audio's granule position the recording's length."""

import struct
from pathlib import Path

import pytest

from channels_app.whatsapp import voice

RECORDING = Path(__file__).resolve().parent.parent / "fixtures" / "voice" / "recording.webm"


def pages(data: bytes):
    pos = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        flags, granule, _serial, sequence, crc, count = struct.unpack_from("<BqIIIB", data, pos + 5)
        lacing = data[pos + 27 : pos + 27 + count]
        end = pos + 27 + count + sum(lacing)
        page = bytearray(data[pos:end])
        page[22:26] = b"\0\0\0\0"
        assert voice.ogg_crc(bytes(page)) == crc, f"page {sequence} has a wrong checksum"
        yield flags, granule, sequence, data[pos + 27 + count : end]
        pos = end


def test_a_webm_recording_becomes_ogg_opus_with_valid_pages():
    ogg = voice.as_voice_note(RECORDING.read_bytes(), "audio/webm;codecs=opus")
    found = list(pages(ogg))
    assert found[0][0] == 0x02 and found[0][3].startswith(b"OpusHead")  # beginning of stream
    assert found[1][3].startswith(b"OpusTags")
    assert found[-1][0] & 0x04  # end of stream
    assert [p[2] for p in found] == list(range(len(found)))
    seconds = found[-1][1] / 48000
    assert 1.4 <= seconds <= 1.6


def test_an_ogg_recording_is_kept_and_anything_else_refused():
    ogg = voice.as_voice_note(RECORDING.read_bytes(), "audio/webm")
    assert voice.as_voice_note(ogg, "audio/ogg") == ogg
    with pytest.raises(voice.NotOpus):
        voice.as_voice_note(b"RIFF....WAVEfmt ", "audio/wav")
    with pytest.raises(voice.NotOpus):
        voice.as_voice_note(RECORDING.read_bytes()[:60], "audio/webm")
