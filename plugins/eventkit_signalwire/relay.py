"""Sending a user event over RELAY, on a websocket the caller already holds.

A RELAY client that controls a call (it has the call's ``node_id`` and
``call_id``) can fire ``calling.user_event`` on it without the REST API.
:func:`user_event_request` builds the frame and :func:`result_receipt` reads the
answer, for callers with their own RELAY loop; :func:`send_user_event` does both
on a connection nothing else is reading at the time.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Mapping, Protocol

from eventkit.provider import EventkitError, Receipt, SendTimeoutError, wait_within

from ._codec_relay import Frame, ack, method_not_found, parse_frame, result_receipt, user_event_request
from ._wire import PROVIDER

__all__ = ["RelaySocket", "result_receipt", "send_user_event", "user_event_request"]


class RelaySocket(Protocol):
    """What :func:`send_user_event` needs of a websocket (``websockets``' connections fit)."""

    async def send(self, message: str) -> None: ...

    async def recv(self) -> str | bytes: ...


async def send_user_event(
    ws: RelaySocket,
    *,
    node_id: str,
    call_id: str,
    event: Mapping[str, Any],
    timeout: float = 10.0,
) -> Receipt:
    """Fire ``calling.user_event`` and wait for its result; RELAY result codes become errors.

    Server requests that arrive meanwhile are answered as RELAY requires
    (events ACKed, pings answered) so the connection stays healthy; those
    events are not delivered anywhere, so use this only when nothing else
    consumes the socket. Frames that are not JSON-RPC are skipped.
    """
    frame = user_event_request(node_id, call_id, event)
    await ws.send(json.dumps(frame))
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SendTimeoutError("no answer to calling.user_event in time", provider=PROVIDER, maybe_delivered=True)
        try:
            message = await wait_within(ws.recv(), remaining)
        except asyncio.TimeoutError:
            continue
        try:
            answer = parse_frame(message)
        except EventkitError:
            continue
        if answer.is_request:
            await _serve(ws, answer)
        elif answer.id == frame["id"]:
            return result_receipt(answer)


async def _serve(ws: RelaySocket, frame: Frame) -> None:
    if frame.id is None:
        return
    if frame.method in ("signalwire.event", "signalwire.ping"):
        await ws.send(json.dumps(ack(frame.id)))
    else:
        await ws.send(json.dumps(method_not_found(frame.id, str(frame.method))))
