// @vitest-environment node
// The request id rule against the same cases as the Python side
// (services/common/tests/test_request_id.py reads this file too).
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { requestId } from "./proxy.js";

const CASES = JSON.parse(readFileSync(new URL("../../common/request_id_cases.json", import.meta.url), "utf8"));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const withHeader = (value) => ({ headers: value === undefined ? {} : { "x-request-id": value } });

describe("request id rule", () => {
  it.each(CASES.kept)("keeps %j", (given) => {
    expect(requestId(withHeader(given))).toBe(given);
  });

  it.each([...CASES.replaced, undefined])("replaces %j with a new UUID", (given) => {
    const made = requestId(withHeader(given));
    expect(made).toMatch(UUID);
    expect(requestId(withHeader(given))).not.toBe(made);
  });
});
