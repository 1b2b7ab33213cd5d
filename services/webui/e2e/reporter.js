// Writes test-results/e2e.json ({tests, passed, failed, skipped, seconds, results, axe}), the
// shape scripts/test.sh reads, and artifacts/webui/axe.json (every axe finding, by page).
// A run whose global setup failed (the trio did not come up) counts as one failed "harness" test.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { shotDir, webuiDir } from "./paths.js";

/** Error messages without the terminal colours the matchers put in. */
const plain = (text) => stripVTControlCharacters(text);

export default class E2eJsonReporter {
  constructor() {
    this.results = [];
    this.axe = [];
    this.started = Date.now();
    this.errors = [];
  }

  onBegin(_config, suite) {
    this.total = suite.allTests().length;
  }

  onError(error) {
    this.errors.push(plain(error.message ?? String(error)));
  }

  onTestEnd(test, result) {
    for (const a of result.attachments) {
      if (a.name === "axe" && a.body) this.axe.push(...JSON.parse(a.body.toString("utf8")));
    }
    if (result.retry < test.retries && result.status !== "passed" && result.status !== "skipped") return;
    const outcome = test.outcome();
    const status = outcome === "skipped" ? "skipped" : outcome === "expected" ? "passed" : "failed";
    const entry = { name: test.titlePath().slice(2).join(" › "), file: test.location.file.split("/e2e/").pop(), status, seconds: +(result.duration / 1000).toFixed(1) };
    if (status === "failed") entry.reason = plain(result.error?.message ?? result.status).split("\n").slice(0, 6).join("\n");
    this.results.push(entry);
  }

  onEnd(result) {
    const results = [...this.results];
    const count = (s) => results.filter((r) => r.status === s).length;
    // Interrupted or broken before any test ran (global setup, a spec that does not load).
    if (result.status !== "passed" && count("failed") === 0) {
      results.push({ name: "harness", status: "failed", reason: this.errors.join("\n") || `run ${result.status}` });
    }
    const summary = {
      tests: results.length, passed: count("passed"), failed: count("failed"), skipped: count("skipped"),
      seconds: Math.round((Date.now() - this.started) / 1000), results, axe: this.axe,
    };
    mkdirSync(join(webuiDir, "test-results"), { recursive: true });
    writeFileSync(join(webuiDir, "test-results", "e2e.json"), JSON.stringify(summary, null, 2));
    mkdirSync(shotDir, { recursive: true });
    writeFileSync(join(shotDir, "axe.json"), JSON.stringify(this.axe, null, 2));
  }

  printsToStdio() {
    return false;
  }
}
