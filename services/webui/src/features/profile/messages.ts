import type { ApiError } from "../../lib/api-error";

/**
 * What to tell the user when an account change (e-mail, password, two-factor, sessions)
 * is refused. The backend's codes are stable; its messages are for API callers.
 */
const TEXTS: Record<string, string> = {
  reauthentication_required: "Confirm with your current password.",
  invalid_password: "The password is wrong.",
  totp_required: "Enter a code from your authenticator app or one of your recovery codes.",
  invalid_totp: "That code is not valid. Enter the current code from your app, or an unused recovery code.",
  totp_reused: "That code was already used. Wait for the next code from your authenticator app.",
  session_required: "This change needs a signed-in session; API keys cannot make it.",
  tf_already_enabled: "Two-factor authentication is already on.",
  conflict: "That e-mail address is already in use.",
};

export function accountErrorText(err: ApiError): string {
  return TEXTS[err.code] ?? err.message;
}
