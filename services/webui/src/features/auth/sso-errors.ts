/**
 * What the login page says when the single sign-on callback sent the browser back with
 * ?sso_error=<code>: what happened and what the person can do about it.
 */
const SSO_ERRORS: Record<string, string> = {
  state_mismatch:
    "Single sign-on could not be completed: the sign-in attempt expired or was started in another tab or browser. Start again with the sign-in button.",
  provider_unavailable:
    "The identity provider cannot be reached right now, so single sign-on is unavailable. Try again in a few minutes; if it persists, contact your administrator.",
  invalid_id_token:
    "The identity provider's answer could not be verified, so you were not signed in. Try again; if it keeps happening, contact your administrator.",
  access_denied: "Sign-in was cancelled or refused at the identity provider. You are not signed in.",
  no_role:
    "Your identity provider account is not in a group that gives access to Rookery. Ask an administrator to grant you access.",
  email_unverified:
    "Your e-mail address is not verified at the identity provider. Verify it there, then sign in again.",
  seat_limit_reached:
    "Your account could not be created: every seat of the Rookery licence is in use. Ask an administrator to free a seat or extend the licence.",
  sso_disabled: "Single sign-on is not enabled on this server. Sign in with your e-mail and password instead.",
};

const GENERIC = "Single sign-on failed, so you were not signed in. Try again, or contact your administrator if it keeps happening.";

export function ssoErrorMessage(code: string): string {
  return Object.hasOwn(SSO_ERRORS, code) ? SSO_ERRORS[code] : GENERIC;
}
