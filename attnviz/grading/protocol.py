"""Messages between the grader and a worker, over the worker's stdin (requests) and stdout (replies).

One message is ``8-byte length | 4-byte header length | JSON header | .npz bytes``: the header holds the
plain values (strings, numbers, lists of strings), the ``.npz`` (written and read with
``allow_pickle=False``) the arrays. Reading a message never runs code, and the reader refuses one larger
than it was told to accept. The worker's side is untrusted: the student's code runs in that process and
can write anything to the pipe; the grader checks every reply against the request it answers.
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
import time

import numpy as np


class ChannelClosed(Exception):
    """The other side closed its end (the worker died, or the grader went away)."""


class ChannelTimeout(Exception):
    """No complete message arrived before the deadline."""


class ChannelError(Exception):
    """A message that is too large or not well formed."""


def encode(header: dict, values: dict | None = None) -> bytes:
    """One message: ``header`` (JSON-able) plus ``values`` (flat: arrays go to the npz, the rest to JSON)."""
    values = values or {}
    arrays = {k: v for k, v in values.items() if isinstance(v, np.ndarray)}
    plain = {k: v for k, v in values.items() if not isinstance(v, np.ndarray)}
    head = json.dumps({**header, "values": plain}).encode()
    body = b""
    if arrays:
        buffer = io.BytesIO()
        np.savez(buffer, **{f"v/{k}": v for k, v in arrays.items()})
        body = buffer.getvalue()
    payload = struct.pack(">I", len(head)) + head + body
    return struct.pack(">Q", len(payload)) + payload


def decode(payload: bytes) -> tuple[dict, dict]:
    """``(header, values)`` of one message's payload; raises :class:`ChannelError` when malformed."""
    try:
        (size,) = struct.unpack(">I", payload[:4])
        header = json.loads(payload[4:4 + size])
        if not isinstance(header, dict) or not isinstance(header.get("values", {}), dict):
            raise ValueError("the header is not an object")
        values = dict(header.pop("values", {}))
        body = payload[4 + size:]
        if body:
            with np.load(io.BytesIO(body), allow_pickle=False) as data:
                values.update({k.removeprefix("v/"): data[k] for k in data.files})
    except Exception as err:  # noqa: BLE001 - whatever is wrong, the message is unusable
        raise ChannelError(f"a malformed message ({type(err).__name__}: {str(err)[:200]})") from None
    return header, values


class Reader:
    """Reads whole messages from a file descriptor with a deadline (the grader's side)."""

    def __init__(self, fd: int, max_bytes: int):
        self.fd, self.max_bytes, self.buffer = fd, max_bytes, b""

    def _fill(self, need: int, deadline: float | None) -> None:
        while len(self.buffer) < need:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChannelTimeout()
                ready, _, _ = select.select([self.fd], [], [], left)
                if not ready:
                    raise ChannelTimeout()
            chunk = os.read(self.fd, min(1 << 20, max(65536, need - len(self.buffer))))
            if not chunk:
                raise ChannelClosed()
            self.buffer += chunk

    def read(self, deadline: float | None = None) -> tuple[dict, dict]:
        self._fill(8, deadline)
        (size,) = struct.unpack(">Q", self.buffer[:8])
        if size > self.max_bytes:
            raise ChannelError(f"a message of {size // 2**20} MB (more than {self.max_bytes // 2**20} MB)")
        self._fill(8 + size, deadline)
        payload, self.buffer = self.buffer[8:8 + size], self.buffer[8 + size:]
        return decode(payload)


def write(fd: int, message: bytes, deadline: float | None = None) -> None:
    """Write all of ``message``; with a deadline, wait for room in the pipe at most until then (a worker
    stuck in a student's loop reads nothing)."""
    view = memoryview(message)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            _, ready, _ = select.select([], [fd], [], max(0.0, left))
            if not ready:
                raise ChannelTimeout()
        try:
            written = os.write(fd, view[:65536] if deadline is not None else view)
        except BlockingIOError:  # a non-blocking pipe with less room than asked for: wait again
            continue
        except BrokenPipeError:
            raise ChannelClosed() from None
        view = view[written:]
