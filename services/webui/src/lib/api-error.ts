import { AxiosError, isAxiosError } from "axios";
import type { components } from "./api-schema.gen";

type ErrorBody = components["schemas"]["Error"]["error"];

/**
 * The backend's error envelope is {"error": {"code", "message", "details"}}; errors made in
 * the browser (network down, a proxy's 502) have no details.
 */
export type ApiErrorBody = Omit<ErrorBody, "details"> & Partial<Pick<ErrorBody, "details">>;

/**
 * How a person reads the API's field names. Keys of `details.fields` look like "email",
 * "src.0" or "body"; the part before the first "." or "[" is the field.
 */
const FIELD_LABELS: Record<string, string> = {
  email: "E-mail",
  password: "Password",
  current_password: "Current password",
  new_password: "New password",
  name: "Name",
  scopes: "Scopes",
  roles: "Roles",
  action: "Action",
  protocol: "Protocol",
  src: "Source CIDRs",
  dst: "Destination CIDRs",
  src_ports: "Source ports",
  dst_ports: "Destination ports",
  vlan: "VLAN",
  description: "Description",
  expires_in_days: "Expiry",
  code: "Code",
  token: "Link",
  ids: "Rule order",
  default_action: "Default action",
  from: "From",
  to: "To",
};

/** Field errors that belong to the request as a whole rather than to one input. */
const GENERAL_KEYS = new Set(["body", "query", "path"]);

export function fieldOf(key: string): string {
  return key.split(/[.[]/)[0];
}

export function fieldLabel(field: string): string {
  const f = fieldOf(field);
  if (FIELD_LABELS[f]) return FIELD_LABELS[f];
  const words = f.replace(/_/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "This field";
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const entries = (n: number) => (n === 1 ? "1 entry" : `${n} entries`);

/** Rewrites, most specific first: [pattern, plain text]. Unknown messages pass through. */
const REWRITES: [RegExp, (m: RegExpMatchArray, field: string) => string][] = [
  [/^Field required$/i, () => "This field is required."],
  [/^String should match pattern '\^\[A-Za-z0-9_\.-\]\+\$'$/, () => "Use only letters, digits, dots (.), dashes (-) and underscores (_), no spaces."],
  [/^String should match pattern/, () => "Contains characters that are not allowed here."],
  [/^String should have at least 1 character/, () => "This field is required."],
  [/^String should have at least (\d+) characters?/, (m) => `Use at least ${plural(Number(m[1]), "character")}.`],
  [/^String should have at most (\d+) characters?/, (m) => `Use at most ${plural(Number(m[1]), "character")}.`],
  [/^List should have at least 1 item/, (_m, f) => (f === "scopes" ? "Choose at least one scope." : "Add at least one entry.")],
  [/^List should have at least (\d+) items?/, (m) => `Add at least ${entries(Number(m[1]))}.`],
  [/^List should have at most (\d+) items?/, (m) => `Use at most ${entries(Number(m[1]))}.`],
  [/^(?:Value error, )?'([^']*)' is not an IPv4 or IPv6 address or CIDR/, (m) => `“${m[1]}” is not an IP address or network. Use a form like 10.0.0.0/8, 192.168.1.10 or 2001:db8::/32.`],
  [/^(?:Value error, )?'([^']*)' must be N or N-M within 1-65535/, (m) => `“${m[1]}” is not a port or port range. Use a port from 1 to 65535 (443) or a range (1000-2000).`],
  [/ports need protocol tcp, udp or any/, () => "Ports only apply to the protocols tcp, udp or any."],
  [/must be any, tcp, udp, icmp, icmpv6 or a number 0-255/, () => "Use any, tcp, udp, icmp, icmpv6 or a protocol number from 0 to 255."],
  [/(?:value is )?not a valid e-?mail address/i, () => "Enter a valid e-mail address, like name@example.com."],
  [/must not contain control characters/, () => "Contains invisible control characters; retype it without them."],
  [/^Input should be a valid integer/, () => "Enter a whole number."],
  [/^Input should be a valid number/, () => "Enter a number."],
  [/^Input should be a valid boolean/, () => "Choose yes or no."],
  [/^Input should be a valid (string|list|dictionary)/, () => "This value has the wrong type."],
  [/^Input should be less than or equal to (-?[\d.]+)/, (m) => `Use a number no greater than ${m[1]}.`],
  [/^Input should be greater than or equal to (-?[\d.]+)/, (m) => `Use a number no smaller than ${m[1]}.`],
  [/^Input should be less than (-?[\d.]+)/, (m) => `Use a number below ${m[1]}.`],
  [/^Input should be greater than (-?[\d.]+)/, (m) => `Use a number above ${m[1]}.`],
  [/^Input should be ((?:'[^']*'(?:, | or )?)+)$/, (m) => `Choose one of: ${m[1].replace(/'/g, "").replace(/ or /, ", ")}.`],
  [/^Value error, (.+)$/, (m) => sentence(m[1])],
];

function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** One field message from the API (pydantic's words, our validators' words) in plain language. */
export function plainFieldMessage(raw: string, field = ""): string {
  const f = fieldOf(field);
  for (const [pattern, rewrite] of REWRITES) {
    const m = raw.match(pattern);
    if (m) return rewrite(m, f);
  }
  return raw;
}

/** Plain text for error codes whose server message is meant for programs, not people. */
const CODE_MESSAGES: Record<string, (e: { status: number; retryAfter: number | null; details: Record<string, unknown>; serverMessage: string }) => string> = {
  network_error: () => "The server cannot be reached. Check your connection and try again.",
  insufficient_scope: (e) => {
    const need = typeof e.details.required === "string" ? ` (it needs the “${e.details.required}” permission)` : "";
    return `Your account is not allowed to do this${need}. Ask an administrator if you need it.`;
  },
  rate_limited: (e) => (e.retryAfter ? `Too many requests. Try again in ${plural(e.retryAfter, "second")}.` : "Too many requests. Wait a moment and try again."),
  invalid_json: () => "The request could not be read. Reload the page and try again.",
  unsupported_media_type: () => "The request could not be read. Reload the page and try again.",
  payload_too_large: () => "That is too much data for one request.",
  internal_error: () => "Something went wrong on the server. Try again; if it keeps happening, tell an administrator.",
  database_unavailable: () => "The database is not answering. Try again in a few seconds.",
  method_not_allowed: () => "This action is not available.",
  // The server's words name the feature and the tier that has it: kept, with what to do.
  feature_not_licensed: (e) =>
    `Not included in this installation's licence: ${sentence(e.serverMessage || "this feature is not licensed")} An administrator can install a licence that includes it (Administration → Licence).`,
};

/** "E-mail: Enter a valid e-mail address. Password: This field is required." */
function validationSummary(fields: Record<string, string>): string {
  const parts: string[] = [];
  for (const [key, msg] of Object.entries(fields)) {
    parts.push(GENERAL_KEYS.has(key) ? sentence(msg) : `${fieldLabel(key)}: ${sentence(msg)}`);
  }
  return parts.length ? parts.join(" ") : "Some values are not valid. Check the form and try again.";
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly retryAfter: number | null;
  /** The server's own words, for logs and bug reports; `message` is for people. */
  readonly serverMessage: string;

  constructor(status: number, body: ApiErrorBody, retryAfter: number | null = null) {
    super(body.message);
    this.status = status;
    this.code = body.code;
    this.details = body.details ?? {};
    this.retryAfter = retryAfter;
    this.serverMessage = body.message;
    const plain = CODE_MESSAGES[body.code];
    if (plain) this.message = plain(this);
    else if (body.code === "validation_error") this.message = validationSummary(this.fieldErrors);
  }

  /** The API's field errors in plain language, keyed as the API keys them ("src.0"). */
  get rawFieldErrors(): Record<string, string> {
    const fields = this.details.fields;
    if (fields && typeof fields === "object") {
      return Object.fromEntries(Object.entries(fields as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
    }
    return {};
  }

  /** Per-field messages of a validation error, in plain language. */
  get fieldErrors(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.rawFieldErrors).map(([k, v]) => [k, plainFieldMessage(v, k)]));
  }

  /**
   * Field messages grouped by form field ("src.0" and "src.1" both belong on "src"), and the
   * rest (rule-wide complaints such as "ports need protocol tcp, udp or any") under "".
   */
  fieldErrorsFor(known: Iterable<string>): Record<string, string> {
    const fields = new Set(known);
    const out: Record<string, string> = {};
    for (const [key, msg] of Object.entries(this.fieldErrors)) {
      const f = fields.has(fieldOf(key)) ? fieldOf(key) : "";
      out[f] = out[f] ? `${out[f]} ${sentence(msg)}` : sentence(msg);
    }
    return out;
  }
}

/**
 * Error answers to a download (responseType "blob") arrive as a Blob, which can only be read
 * asynchronously: toApiError keeps it here and readBlobError (called by the API client for
 * every failed request) reads the JSON inside.
 */
const blobBodies = new WeakMap<ApiError, Blob>();

/**
 * The ApiError a download's error answer really carries (its code and the server's message,
 * such as feature_not_licensed naming the feature and the tier), or `err` itself.
 */
export async function readBlobError(err: unknown): Promise<unknown> {
  const blob = err instanceof ApiError ? blobBodies.get(err) : undefined;
  if (!blob || !(err instanceof ApiError)) return err;
  try {
    const body = JSON.parse(await blob.text()) as { error?: ApiErrorBody };
    if (body?.error?.code) return new ApiError(err.status, body.error, err.retryAfter);
  } catch {
    // Not JSON (a proxy's HTML page): the status-based message stands.
  }
  return err;
}

/** Turns whatever axios threw into an ApiError with a human message. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isAxiosError(err)) {
    const data: unknown = err.response?.data;
    if (typeof Blob !== "undefined" && data instanceof Blob) {
      const wrapped = toApiError(new AxiosError(err.message, err.code, err.config, err.request, err.response && { ...err.response, data: undefined }));
      blobBodies.set(wrapped, data);
      return wrapped;
    }
    const status = err.response?.status ?? 0;
    const body = err.response?.data as { error?: ApiErrorBody } | undefined;
    const header = err.response?.headers?.["retry-after"];
    const detailRetry = body?.error?.details?.retry_after;
    const retryAfter =
      typeof detailRetry === "number" ? detailRetry : header ? Number(header) || null : null;
    if (body?.error?.code) return new ApiError(status, body.error, retryAfter);
    if (status === 0) return new ApiError(0, { code: "network_error", message: "The server cannot be reached." });
    if (status === 502 || status === 503 || status === 504) {
      return new ApiError(status, { code: "http_error", message: "The service is temporarily unavailable. Try again in a moment." });
    }
    return new ApiError(status, {
      code: "http_error",
      message: `The server answered ${status}.`,
    });
  }
  return new ApiError(0, { code: "client_error", message: String(err) });
}

export function errorMessage(err: unknown): string {
  return toApiError(err).message;
}

/** A 403 for a feature the installed licence does not include (or no longer includes). */
export function isFeatureNotLicensed(err: ApiError): boolean {
  return err.status === 403 && err.code === "feature_not_licensed";
}

/**
 * The backend refuses to deactivate, delete or re-role a built-in service account, or to
 * revoke its key, until the request is repeated with force; its message says what stops.
 */
export function isProtectedAccount(err: ApiError): boolean {
  return err.status === 409 && err.code === "protected_account";
}

/** The backend's warning without its advice to API callers (the dialog asks instead). */
export function protectedWarning(err: ApiError): string {
  return err.message.replace(/\s*Repeat with force=true[^.]*\.?\s*$/, "");
}
