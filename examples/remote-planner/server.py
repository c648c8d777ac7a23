#!/usr/bin/env python3
"""A Graphent remote planner written in Python, with the standard library only.

Graphent's RemotePlanner POSTs the state of a run to this server once per turn
and runs the decision it gets back. The protocol is described in
docs/remote-planner.md; this server plans arithmetic:

  input "(2 + 3) * (4 + 5)"
  turn 1 -> RunSteps: add(2, 3) and add(4, 5), which run concurrently
  turn 2 -> RunSteps: multiply(5, 9), with the results of turn 1
  turn 3 -> Answer: "45"

It keeps no state between requests: every request carries the whole run
(the input, the tools the agent offers, every finished step with its result),
so any number of server processes can serve one run.

  python3 examples/remote-planner/server.py --port 8765
  GRAPHENT_PLANNER_URL=http://127.0.0.1:8765/decide \\
    npx graphent run examples/remote-planner/agent.ts --input "(2 + 3) * (4 + 5)"

With PLANNER_TOKEN set, requests must carry "Authorization: Bearer <token>"
(the agent side sets GRAPHENT_PLANNER_TOKEN to the same value).
"""
import argparse
import ast
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROTOCOL_VERSION = 1

# The tool the agent must offer for each operator.
OPERATORS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}


class NotArithmetic(Exception):
    pass


def run_steps(steps):
    return {"_tag": "RunSteps", "steps": steps}


def answer(text):
    return {"_tag": "Answer", "answer": text}


def fail(reason, step_id=None):
    decision = {"_tag": "Fail", "reason": reason}
    if step_id is not None:
        decision["stepId"] = step_id
    return decision


def operations(tree):
    """The binary operations of an expression, children before parents, each with a stable step id."""
    ops = []

    def walk(node):
        if isinstance(node, ast.BinOp):
            if type(node.op) not in OPERATORS:
                raise NotArithmetic(f"unsupported operator {type(node.op).__name__}")
            walk(node.left)
            walk(node.right)
            ops.append(node)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            walk(node.operand)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            pass
        else:
            raise NotArithmetic(f"unsupported syntax {type(node).__name__}")

    walk(tree)
    return {id(node): f"op{index}" for index, node in enumerate(ops)}, ops


def plan(request):
    """The next decision for a run, from its state alone."""
    try:
        tree = ast.parse(request["input"].strip(), mode="eval").body
        ids, ops = operations(tree)
    except (SyntaxError, NotArithmetic) as error:
        return fail(f"not an arithmetic expression: {request['input']!r} ({error})")

    offered = {tool["name"] for tool in request["agent"]["tools"]}
    for node in ops:
        tool = OPERATORS[type(node.op)]
        if tool not in offered:
            return fail(f"the agent offers no tool named {tool!r} (it has: {', '.join(sorted(offered))})")

    outcomes = {step["id"]: step for step in request["steps"]}

    def value(node):
        """The number a node stands for, or None while its step has not run."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp):
            inner = value(node.operand)
            return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
        outcome = outcomes.get(ids[id(node)])
        return outcome["result"] if outcome is not None and outcome["_tag"] == "Succeeded" else None

    for step_id, outcome in outcomes.items():
        if outcome["_tag"] == "Failed":
            # Graphent fails the run with the step's own error.
            return fail(outcome["error"]["message"], step_id)

    result = value(tree)
    if result is not None:
        return answer(format_number(result))

    # Every operation whose operands are known and that has not run yet: they run concurrently.
    ready = []
    for node in ops:
        step_id = ids[id(node)]
        left, right = value(node.left), value(node.right)
        if step_id not in outcomes and left is not None and right is not None:
            ready.append({"id": step_id, "tool": OPERATORS[type(node.op)], "args": {"a": left, "b": right}})
    if not ready:
        return fail("no step can run: an operation's operand never became known")
    return run_steps(ready)


def format_number(value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


class Handler(BaseHTTPRequestHandler):
    server_version = "graphent-remote-planner/1"

    def do_POST(self):
        token = os.environ.get("PLANNER_TOKEN")
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            return self.reply(401, {"error": "missing or wrong bearer token"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError as error:
            return self.reply(400, {"error": f"the body is not JSON: {error}"})
        if not isinstance(request, dict) or request.get("version") != PROTOCOL_VERSION:
            version = request.get("version") if isinstance(request, dict) else None
            return self.reply(400, {"error": f"unsupported protocol version {version!r}; this server speaks {PROTOCOL_VERSION}"})
        try:
            decision = plan(request)
        except (KeyError, TypeError) as error:
            return self.reply(400, {"error": f"malformed request: {error!r}"})
        self.log_message("run %s turn %s -> %s", request["runId"], request["turn"], decision["_tag"])
        self.reply(200, decision)

    def reply(self, status, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write("planner: " + (format % args) + "\n")


def main():
    parser = argparse.ArgumentParser(description="An arithmetic planner for Graphent's RemotePlanner.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    options = parser.parse_args()
    server = ThreadingHTTPServer((options.host, options.port), Handler)
    host, port = server.server_address[:2]
    # The first line of output says where to send requests (tests read it).
    print(f"listening on http://{host}:{port}/decide", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
