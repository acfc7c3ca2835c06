"""Stream webhooks in a one-file Django project, through ``receiver.handle_sync`` (any WSGI server).

Run it::

    STREAM_API_KEY=... STREAM_API_SECRET=... python examples/django_app/app.py runserver 8000

and give Stream the webhook URL ``https://<your host>/webhooks/stream``. In a real project, the
view and the receiver go in your app's ``views.py`` and the URL in ``urls.py``, as here.
Django reads the body: its ``DATA_UPLOAD_MAX_MEMORY_SIZE`` caps it (set below), and the read
timeout is your WSGI server's; the receiver's ``max_body_bytes`` and ``body_timeout`` apply only to
its ASGI app. An async view would ``await receiver.handle(...)`` instead.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Mapping

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import eventkit

log = logging.getLogger("example.django")
RECEIVER: eventkit.WebhookReceiver | None = None


def make_receiver(environ: Mapping[str, str] | None = None) -> eventkit.WebhookReceiver:
    """A receiver for Stream, its settings from ``STREAM_API_KEY`` / ``STREAM_API_SECRET``."""
    kit = eventkit.connect("stream", environ=environ)
    return eventkit.WebhookReceiver([kit.provider])


def log_event(event: eventkit.Event) -> None:
    # Handlers run on the receiver's own loop thread for handle_sync calls: keep them quick.
    log.info("%s from %s to %s: %s", event.name, event.sender, event.target, event.data)


@csrf_exempt  # the platform cannot send a CSRF token; the signature is the check
@require_POST
def webhook(request: HttpRequest, provider: str) -> JsonResponse:
    assert RECEIVER is not None, "call setup() first"
    # request.headers spells names X-Signature: handle_sync matches them in any case.
    status, payload = RECEIVER.handle_sync(provider, request.headers, request.body)
    return JsonResponse(payload, status=status)


urlpatterns = [path("webhooks/<str:provider>", webhook)]


def setup(receiver: eventkit.WebhookReceiver | None = None) -> eventkit.WebhookReceiver:
    """Configure Django for this file (once) and install the receiver the view uses."""
    global RECEIVER
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret"),
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
            MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
            INSTALLED_APPS=[],
            DATA_UPLOAD_MAX_MEMORY_SIZE=1 << 20,  # a bigger body raises RequestDataTooBig (400)
        )
        django.setup()
    if receiver is None:
        receiver = make_receiver()
        receiver.on(log_event)
        atexit.register(receiver.close)  # stop the receiver's loop thread with the process
    RECEIVER = receiver
    return receiver


def wsgi_application(receiver: eventkit.WebhookReceiver | None = None) -> WSGIHandler:
    """For a WSGI server: ``gunicorn 'examples.django_app.app:wsgi_application()'``."""
    setup(receiver)
    return WSGIHandler()


if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    logging.basicConfig(level=logging.INFO)
    setup()
    execute_from_command_line(sys.argv)
