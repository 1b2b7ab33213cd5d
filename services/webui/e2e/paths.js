// Where the browser run reads and writes, shared by the config, global setup, fixtures and reporter.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const here = dirname(fileURLToPath(import.meta.url));
export const webuiDir = resolve(here, "..");
export const root = resolve(webuiDir, "..", "..");
/** Screenshots of key pages, axe findings, service logs, failure screenshots. */
export const shotDir = join(root, "artifacts", "webui");
/** Seconds an access token lives: short, so the refresh and session-ended scenarios wait only a few seconds. */
export const ACCESS_TTL = 6;
