#!/usr/bin/env python3
"""A Graphent HTTP API client in Python, standard library only.

Starts a run, follows its events as server-sent events (reconnecting with
Last-Event-ID if the connection drops, so no event is missed), and prints the
answer.

    npx graphent dev &                      # serves the bundled examples on :7420
    python3 examples/clients/python_client.py echo "hello from Python"

Options: --url (default $GRAPHENT_URL or http://127.0.0.1:7420), --key
(default $GRAPHENT_API_KEY), --quiet (no event lines on stderr).
Exit codes: 0 the run completed, 1 it failed or was interrupted, 2 the API
refused the request.
"""
import argparse
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class ApiError(Exception):
    def __init__(self, status, body):
        self.status = status
        self.body = body
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"HTTP {status}: {message or body}")


class Client:
    def __init__(self, url, key=None):
        self.url = url.rstrip("/")
        self.key = key

    def _headers(self, extra=None):
        headers = {"accept": "application/json"}
        if self.key:
            headers["authorization"] = f"Bearer {self.key}"
        headers.update(extra or {})
        return headers

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = self._headers({"content-type": "application/json"} if data is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode(errors="replace")
            failure = ApiError(error.code, parsed)
            failure.retry_after = error.headers.get("retry-after")
            raise failure from None

    def start(self, agent, text, attempts=5):
        """POST /v1/runs; waits and retries while the server answers 429."""
        for attempt in range(attempts):
            try:
                return self.request("POST", "/v1/runs", {"agent": agent, "input": text})
            except ApiError as error:
                if error.status != 429 or attempt == attempts - 1:
                    raise
                time.sleep(float(getattr(error, "retry_after", None) or 1))

    def events(self, run_id):
        """Yields (index, event) for every event of the run, live, until it ends."""
        last = None
        failures = 0
        while True:
            parsed = urllib.parse.urlsplit(self.url)
            connection_class = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
            connection = connection_class(parsed.hostname, parsed.port, timeout=300)
            headers = self._headers({"accept": "text/event-stream"})
            if last is not None:
                headers["last-event-id"] = last
            try:
                connection.request("GET", f"{parsed.path}/v1/runs/{urllib.parse.quote(run_id)}/events", headers=headers)
                response = connection.getresponse()
                if response.status != 200:
                    body = response.read()
                    try:
                        body = json.loads(body)
                    except ValueError:
                        body = body.decode(errors="replace")
                    raise ApiError(response.status, body)
                event_id, data = None, []
                for raw in response:
                    line = raw.decode().rstrip("\r\n")
                    if line == "":
                        if data:
                            if event_id is not None:
                                last = event_id
                            yield (None if event_id is None else int(event_id)), json.loads("\n".join(data))
                        event_id, data = None, []
                    elif line.startswith(":"):
                        continue
                    else:
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "id":
                            event_id = value
                        elif field == "data":
                            data.append(value)
                return  # the server ended the stream: the run is over
            except (OSError, http.client.HTTPException):
                failures += 1
                if failures > 5:
                    raise
                time.sleep(min(5, 0.25 * 2 ** failures))  # reconnect after the last id seen
            finally:
                connection.close()


def describe(event):
    tag = event["_tag"]
    if tag in ("StepStarted", "StepSucceeded", "StepFailed", "StepSkipped"):
        return f"{tag} {event['stepId']} ({event['tool']})"
    if tag == "DecisionMade":
        return f"{tag} turn {event['turn']}: {event['decision']['_tag']}"
    if tag == "ModelCalled":
        usage = event["response"]["usage"]
        return f"{tag} {event['model']} {usage['inputTokens']}→{usage['outputTokens']} tokens"
    return tag


def main(argv=None):
    parser = argparse.ArgumentParser(description="Start a Graphent run and print its answer.")
    parser.add_argument("agent")
    parser.add_argument("input")
    parser.add_argument("--url", default=os.environ.get("GRAPHENT_URL", "http://127.0.0.1:7420"))
    parser.add_argument("--key", default=os.environ.get("GRAPHENT_API_KEY"))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    client = Client(args.url, args.key)
    try:
        run = client.start(args.agent, args.input)
        if not args.quiet:
            print(f"run {run['id']} ({run['status']})", file=sys.stderr)
        for index, event in client.events(run["id"]):
            if not args.quiet and event["_tag"] not in ("TextDelta", "ToolCallDelta"):
                print(f"  [{index}] {describe(event)}", file=sys.stderr)
        info = client.request("GET", f"/v1/runs/{urllib.parse.quote(run['id'])}")
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if info["status"] == "completed":
        print(info["answer"])
        return 0
    error = info.get("error") or {}
    print(f"run {info['status']}: {error.get('_tag', '')} {error.get('message', '')}".rstrip(), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
