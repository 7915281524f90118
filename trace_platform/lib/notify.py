"""Pluggable notifiers for alerts: a local JSON-lines file or a log by default, a webhook when configured.

Pure Python (standard library only), no Dagster: the alert sensors build a `Notification` and hand
it to whatever `notifier_from_env()` returns.

Configuration (environment):

* `TRACE_PLATFORM_ALERT_WEBHOOK_URL` — when set, every notification is also POSTed there as JSON
  (a Slack-compatible `text` field plus the structured `notification`).
* `TRACE_PLATFORM_ALERT_FILE` — the JSON-lines file notifications are appended to
  (default `data/alerts/alerts.jsonl`, i.e. `alerts/alerts.jsonl` next to the warehouse); set it to `-` to log instead of writing a file.
* `TRACE_PLATFORM_ALERT_WEBHOOK_TIMEOUT` — seconds to wait for the webhook (default 10).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

WEBHOOK_ENV = "TRACE_PLATFORM_ALERT_WEBHOOK_URL"
FILE_ENV = "TRACE_PLATFORM_ALERT_FILE"
TIMEOUT_ENV = "TRACE_PLATFORM_ALERT_WEBHOOK_TIMEOUT"
DEFAULT_ALERT_FILE = Path("data") / "alerts" / "alerts.jsonl"

_file_lock = threading.Lock()


class NotifyError(RuntimeError):
    """A notification could not be delivered."""


@dataclass(frozen=True)
class Notification:
    """One alert: what happened (kind), a one-line title, a short summary and structured details."""

    kind: str  # "run_failure" or "check_failure"
    title: str
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_text(self) -> str:
        return f"{self.title}\n{self.summary}"


class Notifier(Protocol):
    def send(self, notification: Notification) -> None: ...


class FileNotifier:
    """Appends one JSON object per line; safe for several threads of one process."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def send(self, notification: Notification) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(notification.as_dict(), default=str, sort_keys=True)
        with _file_lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def __repr__(self) -> str:
        return f"FileNotifier({str(self.path)!r})"


class LogNotifier:
    """Writes the notification to a logger (the sensor's log in the Dagster UI)."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter | Any | None = None):
        self.logger = logger or logging.getLogger("trace_platform.alerts")

    def send(self, notification: Notification) -> None:
        self.logger.warning(f"[{notification.kind}] {notification.as_text()}")

    def __repr__(self) -> str:
        return "LogNotifier()"


class WebhookNotifier:
    """POSTs the notification as JSON; any non-2xx answer or network error raises NotifyError."""

    def __init__(self, url: str, timeout_seconds: float = 10.0, headers: Mapping[str, str] | None = None):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must start with http:// or https://, got {url!r}")
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def payload(self, notification: Notification) -> dict[str, Any]:
        return {"text": notification.as_text(), "notification": notification.as_dict()}

    def send(self, notification: Notification) -> None:
        body = json.dumps(self.payload(notification), default=str).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            raise NotifyError(f"webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise NotifyError(f"webhook not reachable: {exc}") from None
        if not 200 <= status < 300:
            raise NotifyError(f"webhook answered HTTP {status}")

    def __repr__(self) -> str:
        # never print the URL: webhook URLs usually embed a secret token
        return "WebhookNotifier(<configured>)"


class CompositeNotifier:
    """Sends to every notifier; delivers to the others when one fails, then raises the failures."""

    def __init__(self, notifiers: Sequence[Notifier]):
        self.notifiers = list(notifiers)

    def send(self, notification: Notification) -> None:
        errors = []
        for notifier in self.notifiers:
            try:
                notifier.send(notification)
            except Exception as exc:  # noqa: BLE001 - one broken channel must not silence the others
                errors.append(f"{notifier!r}: {exc}")
        if errors:
            raise NotifyError("; ".join(errors))

    def __repr__(self) -> str:
        return f"CompositeNotifier({self.notifiers!r})"


def notifier_from_env(
    env: Mapping[str, str] | None = None,
    logger: Any | None = None,
    default_file: str | os.PathLike | None = None,
) -> Notifier:
    """The configured notifier: the local file (or the log), plus the webhook when one is set."""
    env = os.environ if env is None else env
    target = env.get(FILE_ENV, "").strip()
    fallback = Path(default_file) if default_file else DEFAULT_ALERT_FILE
    local: Notifier = (
        LogNotifier(logger)
        if target == "-"
        else FileNotifier(Path(target).absolute() if target else fallback.absolute())
    )
    url = env.get(WEBHOOK_ENV, "").strip()
    if not url:
        return local
    timeout = float(env.get(TIMEOUT_ENV, "") or 10)
    return CompositeNotifier([local, WebhookNotifier(url, timeout_seconds=timeout)])
