"""The reference server for HTTP benchmarks: a minimal keep-alive HTTP/1.1 server.

It runs in its own process, pinned to the other core, and answers every request
with one fixed response, so the figures measure the clients, not the server.
"""

from __future__ import annotations

import asyncio
import os
import sys

BODY = (
    b'{"event":{"type":"friendship_request","text":"hi","cid":"messaging:general",'
    b'"created_at":"2024-01-01T00:00:00.000000Z"},"duration":"0.10ms",'
    b'"id":"0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10","timestamp":"2024-01-01T00:00:00.000Z",'
    b'"call_id":"0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10","status":"answered"}'
)
RESPONSE = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)


class _Protocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(RESPONSE)


async def _serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Protocol, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    asyncio.run(_serve(int(sys.argv[1])))
