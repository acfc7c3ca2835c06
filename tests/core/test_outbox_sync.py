"""The blocking client's outbox: queued at once, drained on its background loop, resumed by the next client."""

from __future__ import annotations

import threading
from pathlib import Path

import eventkit
from eventkit import Event


def test_sync_outbox_queues_and_a_later_client_delivers_what_was_left(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    got: list[Event] = []
    ready = threading.Event()
    with eventkit.connect("memory", namespace="sync-outbox", environ={}) as listener:
        events = listener.listen(on_ready=lambda _: ready.set())

        def collect() -> None:
            for event in events:
                got.append(event)
                if len(got) == 3:
                    return

        thread = threading.Thread(target=collect)
        thread.start()
        assert ready.wait(10)
        with eventkit.connect("memory", namespace="sync-outbox", store=url, outbox=True, environ={}) as kit:
            results = kit.send_many([{"name": "E", "data": {"n": n}} for n in range(3)], to="topic:t")
            assert [r.queued for r in results] == [True, True, True]
            assert kit.drain(10) == 0
        thread.join(10)
    assert [e.data["n"] for e in got] == [0, 1, 2]
