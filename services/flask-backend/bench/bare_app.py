"""The benchmark's baseline (a): a bare Flask JSON route, nothing else, served by hypercorn
with as many worker processes as flask-backend gets (`hypercorn -w N bare_app:app`)."""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():  # type: ignore[no-untyped-def]
    return jsonify({"status": "ok"})
