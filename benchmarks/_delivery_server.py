"""A webhook receiver on one store, in its own process: what ``delivery.py`` loads with wrk."""

from __future__ import annotations

import os
import sys
from typing import Any

import uvicorn

SECRET = "bench-secret-0123456789"


def receiver(store: str) -> Any:
    from eventkit_stream import StreamProvider

    from eventkit import Secret, WebhookReceiver

    provider = StreamProvider(StreamProvider.Settings(api_key="bench-key", api_secret=Secret(SECRET)))
    return WebhookReceiver([provider], store=store)


if __name__ == "__main__":
    store, port, core = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {core % (os.cpu_count() or 1)})
    # Lifespan on: the store opens (and a bad one fails) before the first request.
    config = uvicorn.Config(receiver(store), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print("ready", flush=True)
    server.run()
