// JSON log lines with the same field names as the Python services (rookery_common.logs):
// {"ts":"…Z","level":"info","logger":"webui","msg":"…", …fields}.
const LEVELS = new Set(["debug", "info", "warning", "error"]);

/** One log line as a string (exported for the tests). */
export function logLine(level, msg, fields = {}, now = new Date()) {
  if (!LEVELS.has(level)) throw new Error(`unknown log level ${level}`);
  return JSON.stringify({ ts: now.toISOString(), level, logger: "webui", msg, ...fields });
}

/** Writes a line: warnings and errors on stderr, the rest on stdout. */
export function log(level, msg, fields = {}) {
  const line = logLine(level, msg, fields);
  if (level === "warning" || level === "error") console.error(line);
  else console.log(line);
}
