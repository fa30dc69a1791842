"""Signs or verifies messages with the official Standard Webhooks library, for Courier's tests.

Reads one JSON request from stdin and prints one JSON list to stdout:

  {"op": "verify", "secret": "whsec_...", "messages":
      [{"id": ..., "timestamp": ..., "signature": ..., "body_b64": ...}]}
  -> [true, false, ...]

  {"op": "sign", "secret": "whsec_...", "messages":
      [{"id": ..., "timestamp": <int seconds>, "body_b64": ...}]}
  -> ["v1,...", ...]

Bodies travel as base64 so their exact bytes reach the library. Only a verification failure
counts as `false`; any other error ends the script with a traceback, so a broken harness can
never pass as a refused signature.
"""

import base64
import json
import sys
from datetime import datetime, timezone

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def verify(webhook, message):
    headers = {
        "webhook-id": message["id"],
        "webhook-timestamp": message["timestamp"],
        "webhook-signature": message["signature"],
    }
    body = base64.b64decode(message["body_b64"])
    try:
        webhook.verify(body, headers, json_parse=False)
        return True
    except WebhookVerificationError:
        return False


def sign(webhook, message):
    body = base64.b64decode(message["body_b64"]).decode("utf-8")
    at = datetime.fromtimestamp(message["timestamp"], tz=timezone.utc)
    return webhook.sign(message["id"], at, body)


def main():
    request = json.load(sys.stdin)
    webhook = Webhook(request["secret"])
    operation = {"verify": verify, "sign": sign}[request["op"]]
    json.dump([operation(webhook, m) for m in request["messages"]], sys.stdout)


if __name__ == "__main__":
    main()
