"""Quiet, private, strict HTTP around BentoML's app:

- a client's mistake (4xx) is logged as one line naming the fields, never a traceback with the
  request body (customer ids must not reach the logs); a 503 is one line naming the dependency;
- the API takes JSON only: another content type is a 415 in one line (a garbage multipart body
  made BentoML's multipart parser fail with a 500, and `text/plain` was read as JSON);
- the root page is our own: BentoML's loads a third-party tag manager script into the browser of
  whoever opens the service.
"""

from __future__ import annotations

import json
import logging
from typing import Any

#: BentoML logs every failed request here, with the exception's traceback
BENTOML_LOGGER = "bentoml._internal.server.http_app"
API_PATHS = ("/predict", "/outcomes")
JSON_TYPES = {b"application/json", b""}  # no content type: BentoML reads JSON
ROOT_PAGE = b"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>optichannel: next-best-channel service</title>
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
"""


def one_line(exc: BaseException) -> str | None:
    """A client error (or a 503) as one line without any input value; None for anything else (a
    bug keeps its traceback)."""
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)[:5]
        )
        return f"400: {exc.error_count()} invalid field(s): {fields}"
    if isinstance(exc, BentoMLException):
        status = exc.error_code.value
        if status < 500 or status == 503:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return f"{status}: {first[:300]}"
    return None


class QuietClientErrors(logging.Filter):
    """Turns BentoML's ERROR-with-traceback for a client error into one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        line = None if exc is None else one_line(exc)
        if line is not None:
            path = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = f"{line} (on {path})", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_errors() -> None:
    """Install the filter once per process (each worker's logger)."""
    logger = logging.getLogger(BENTOML_LOGGER)
    if not any(isinstance(f, QuietClientErrors) for f in logger.filters):
        logger.addFilter(QuietClientErrors())


async def _reply(send: Any, status: int, body: bytes, kind: bytes = b"application/json") -> None:
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class StrictHttp:
    """ASGI middleware: JSON only on the API, our own root page."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope.get("method", "GET")
            if path == "/" and method in ("GET", "HEAD"):
                await _reply(send, 200, ROOT_PAGE, b"text/html; charset=utf-8")
                return
            if path.startswith(API_PATHS) and method == "POST":
                given = dict(scope.get("headers") or []).get(b"content-type", b"")
                if given.split(b";")[0].strip().lower() not in JSON_TYPES:
                    shown = given.decode("latin-1")[:60]
                    body = {"error": f"send JSON (Content-Type: application/json), not {shown!r}"}
                    logging.getLogger(__name__).warning("415: %s not JSON (on %s)", shown, path)
                    await _reply(send, 415, json.dumps(body).encode())
                    return
        await self.app(scope, receive, send)
