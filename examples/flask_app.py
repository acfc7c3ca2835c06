"""Stream webhooks in a Flask app, through ``receiver.handle_sync`` (any WSGI server).

Run it::

    STREAM_API_KEY=... STREAM_API_SECRET=... flask --app examples.flask_app:main run --port 8000

and give Stream the webhook URL ``https://<your host>/webhooks/stream``. Flask reads the body,
so the size cap is Flask's ``MAX_CONTENT_LENGTH`` (set below) and the read timeout is your WSGI
server's; the receiver's ``max_body_bytes`` and ``body_timeout`` apply only to its ASGI app.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request

import eventkit

log = logging.getLogger("example.flask")


def make_receiver(environ: Mapping[str, str] | None = None) -> eventkit.WebhookReceiver:
    """A receiver for Stream, its settings from ``STREAM_API_KEY`` / ``STREAM_API_SECRET``."""
    kit = eventkit.connect("stream", environ=environ)
    return eventkit.WebhookReceiver([kit.provider])


def log_event(event: eventkit.Event) -> None:
    # Handlers run on the receiver's own loop thread for handle_sync calls: keep them quick,
    # hand slow work to your task queue.
    log.info("%s from %s to %s: %s", event.name, event.sender, event.target, event.data)


def create_app(receiver: eventkit.WebhookReceiver) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20  # bigger bodies get 413 before the view runs

    @app.post("/webhooks/<provider>")
    def webhook(provider: str) -> tuple[Response, int]:
        # request.headers spells names X-Signature: handle_sync matches them in any case.
        status, payload = receiver.handle_sync(provider, request.headers, request.get_data())
        return jsonify(payload), status

    return app


def main() -> Flask:
    """The app factory (``flask --app examples.flask_app:main``)."""
    logging.basicConfig(level=logging.INFO)
    receiver = make_receiver()
    receiver.on(log_event)
    atexit.register(receiver.close)  # stop the receiver's loop thread with the process
    return create_app(receiver)


if __name__ == "__main__":
    main().run(host="127.0.0.1", port=8000)
