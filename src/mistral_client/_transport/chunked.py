"""Stage 0 of the stream pipeline: an HTTP/1.1 chunked body -> the bytes it carries.

A sans-IO decoder for ``Transfer-Encoding: chunked`` (RFC 9112 section 7.1), fed with whatever the
socket returned; each ``feed`` gives back the payload of the read in one piece.

A malformed byte does not cost what came before it: ``feed`` returns the payload the read held up
to that byte, sets ``ended`` and keeps the error in ``error``; the next ``feed`` raises it.  A
stream whose read holds two events and then garbage so delivers both events before it fails.

Why not let h11 do it: h11 turns every chunk into an event and makes two ``next_event`` calls per
chunk, about 5 us, and a live server sends every SSE event in a chunk of its own.  For a backend
relaying hundreds of streams that was a quarter of its CPU per chunk; this decoder does a read in a
fraction of that (``python -m bench.http_layer`` keeps the measurement).  h11 still parses the response
head and is told where the body ended (``_transport/http11.py``).
"""

from __future__ import annotations

__all__ = ["ChunkedBody", "ChunkedBodyError"]

_HEX_DIGITS = b"0123456789abcdefABCDEF"
_MAX_LINE = 4096  # a chunk-size line (with its extensions) or one trailer line
_MAX_TRAILERS = 64 * 1024

# What the decoder expects next (_FAILED: nothing; the body was malformed).
_SIZE, _DATA, _CRLF, _TRAILERS, _DONE, _FAILED = range(6)


class ChunkedBodyError(ValueError):
    """The bytes are not a valid chunked body; the message says where."""


class ChunkedBody:
    """``feed(data)`` -> payload bytes; ``done`` once the last chunk and its trailers arrived.

    Bytes after the end of the body are kept in ``leftover``, not decoded.  ``ended`` (a plain
    attribute, cheap to test per read) is true once nothing more will be decoded: the body is
    ``done``, or it was malformed and ``error`` says how.
    """

    __slots__ = ("_buf", "_left", "_state", "_trailer_bytes", "ended", "error", "leftover")

    def __init__(self) -> None:
        self._state = _SIZE
        self._left = 0  # bytes of chunk data still to come
        self._buf = b""  # an incomplete size line, CRLF or trailer section
        self._trailer_bytes = 0
        self.leftover = b""
        self.ended = False
        self.error: ChunkedBodyError | None = None

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def at_boundary(self) -> bool:
        """True between two chunks with nothing held back: the next byte starts a size line."""
        return self._state == _SIZE and not self._buf

    def feed(self, data: bytes) -> bytes:
        if self._state == _SIZE and not self._buf:
            # A live server sends each event in a chunk of its own, and reads mostly match them.
            eol = data.find(b"\r\n", 0, 18)
            if eol > 0 and not data[:eol].translate(None, _HEX_DIGITS):
                end = eol + 2 + int(data[:eol], 16)
                if len(data) == end + 2 and end > eol + 2 and data.endswith(b"\r\n"):
                    return data[eol + 2 : end]
        if self._state == _FAILED:
            assert self.error is not None
            raise self.error
        if self._buf:
            data = self._buf + data
            self._buf = b""
        out: list[bytes | memoryview] = []
        try:
            self._decode(data, out)
        except ChunkedBodyError as exc:
            self._state, self.error, self.ended, self._buf = _FAILED, exc, True, b""
            if not out:
                raise
            # What came before the malformed byte is delivered; the next feed raises.
        if not out:
            return b""
        if len(out) == 1 and type(out[0]) is bytes:
            return out[0]
        return b"".join(out)

    def _decode(self, data: bytes, out: list[bytes | memoryview]) -> None:
        state, left = self._state, self._left
        end = len(data)
        pos = 0
        view: memoryview | None = None
        while pos < end:
            if state == _DATA:
                take = end - pos if end - pos < left else left
                if pos == 0 and take == end:
                    out.append(data)  # the whole read is chunk data: no copy
                else:
                    if view is None:
                        view = memoryview(data)
                    out.append(view[pos : pos + take])
                pos += take
                left -= take
                if left:
                    break
                state = _CRLF
            elif state == _SIZE:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self._hold(data, pos, "chunk-size line")
                    break
                left = _chunk_size(data[pos:eol])
                pos = eol + 2
                state = _DATA if left else _TRAILERS
            elif state == _CRLF:
                if end - pos < 2:
                    if data[pos:] != b"\r":
                        raise ChunkedBodyError(f"malformed chunk: expected CRLF after its data, got {data[pos:]!r}")
                    self._buf = b"\r"
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise ChunkedBodyError(
                        f"malformed chunk: expected CRLF after its data, got {data[pos : pos + 2]!r}"
                    )
                pos += 2
                state = _SIZE
            elif state == _TRAILERS:
                pos = self._trailers(data, pos)
                if pos < 0:
                    break
                state = _DONE
                self.ended = True
            else:  # _DONE
                self.leftover += data[pos:]
                break
        self._state, self._left = state, left

    def _hold(self, data: bytes, pos: int, what: str) -> None:
        rest = data[pos:]
        if len(rest) > _MAX_LINE:
            raise ChunkedBodyError(f"malformed chunk: {what} longer than {_MAX_LINE} bytes")
        self._buf = rest

    def _trailers(self, data: bytes, pos: int) -> int:
        """Skip the trailer section (we have no use for trailers); -1 while it is incomplete."""
        while True:
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                self._trailer_bytes += len(data) - pos
                if self._trailer_bytes > _MAX_TRAILERS:
                    raise ChunkedBodyError(f"malformed chunked body: trailers longer than {_MAX_TRAILERS} bytes")
                self._hold(data, pos, "trailer line")
                return -1
            if eol == pos:
                return pos + 2
            self._trailer_bytes += eol + 2 - pos
            if self._trailer_bytes > _MAX_TRAILERS:
                raise ChunkedBodyError(f"malformed chunked body: trailers longer than {_MAX_TRAILERS} bytes")
            pos = eol + 2


def _chunk_size(line: bytes) -> int:
    # chunk-size [ ";" extensions ] with optional whitespace: extensions mean nothing to us.
    digits = line.split(b";", 1)[0].strip(b" \t")
    if not 0 < len(digits) <= 16 or digits.strip(b"0123456789abcdefABCDEF"):
        raise ChunkedBodyError(f"malformed chunk-size line: {bytes(line[:80])!r}")
    return int(digits, 16)
