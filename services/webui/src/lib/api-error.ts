import { isAxiosError } from "axios";

/** The backend's error envelope: {"error": {"code", "message", "details"}}. */
export interface ApiErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly retryAfter: number | null;

  constructor(status: number, body: ApiErrorBody, retryAfter: number | null = null) {
    super(body.message);
    this.status = status;
    this.code = body.code;
    this.details = body.details ?? {};
    this.retryAfter = retryAfter;
  }

  /** Per-field messages of a 422 validation_error, if any. */
  get fieldErrors(): Record<string, string> {
    const fields = this.details.fields;
    if (fields && typeof fields === "object") {
      return Object.fromEntries(
        Object.entries(fields as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      );
    }
    return {};
  }
}

/** Turns whatever axios threw into an ApiError with a human message. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isAxiosError(err)) {
    const status = err.response?.status ?? 0;
    const body = err.response?.data as { error?: ApiErrorBody } | undefined;
    const header = err.response?.headers?.["retry-after"];
    const detailRetry = body?.error?.details?.retry_after;
    const retryAfter =
      typeof detailRetry === "number" ? detailRetry : header ? Number(header) || null : null;
    if (body?.error?.code) return new ApiError(status, body.error, retryAfter);
    if (status === 0)
      return new ApiError(0, { code: "network_error", message: "The server cannot be reached." });
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
