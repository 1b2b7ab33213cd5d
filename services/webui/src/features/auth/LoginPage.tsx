import { useEffect, useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { LogIn } from "lucide-react";
import { Alert } from "../../components/Alert";
import { Field } from "../../components/Field";
import { toApiError } from "../../lib/api-error";
import { useAuthStore } from "../../lib/auth-store";
import { AuthShell } from "./AuthShell";
import type { LoginState } from "./guards";
import { getSsoConfig, login, ssoLoginHref, type SsoConfig } from "./api";
import { ssoErrorMessage } from "./sso-errors";

function retryText(seconds: number | null): string {
  if (!seconds) return "Too many sign-in attempts. Please wait a moment and try again.";
  const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString();
  return `Too many sign-in attempts. Try again in ${seconds} second${seconds === 1 ? "" : "s"} (at ${at}).`;
}

/** The provider's button: a plain link, the backend's login route redirects to the provider. */
function SsoButton({ sso, next, primary }: { sso: SsoConfig; next: string; primary: boolean }) {
  return (
    <a href={ssoLoginHref(sso.login_url, next)} className={`${primary ? "btn-primary" : "btn-secondary"} w-full no-underline hover:no-underline`}>
      <LogIn aria-hidden className="h-4 w-4" />
      Sign in with {sso.provider_name || "SSO"}
    </a>
  );
}

/** "?sso_error=<code>" from the single sign-on callback, read once (the address is cleaned up after). */
function useSsoError(): string | null {
  const location = useLocation();
  const navigate = useNavigate();
  const [code] = useState(() => new URLSearchParams(location.search).get("sso_error"));
  useEffect(() => {
    const params = new URLSearchParams(location.search);
    if (!params.has("sso_error")) return;
    params.delete("sso_error");
    const search = params.toString();
    // The message stays on screen; a reload or a bookmark does not bring it back.
    navigate({ pathname: location.pathname, search: search ? `?${search}` : "", hash: location.hash }, { replace: true, state: location.state });
  }, [location, navigate]);
  return code;
}

export function LoginPage() {
  const status = useAuthStore((s) => s.status);
  const setSession = useAuthStore((s) => s.setSession);
  const navigate = useNavigate();
  const location = useLocation();
  const state = location.state as LoginState | null;
  const from = state?.from ?? "/";

  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [remember, setRemember] = useState(true);
  const [totp, setTotp] = useState("");
  const [needTotp, setNeedTotp] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ssoError = useSsoError();
  const sso = useQuery({ queryKey: ["auth", "sso"], queryFn: getSsoConfig, staleTime: 60_000, retry: false }).data;
  const ssoOn = !!sso?.enabled;
  const ssoRequired = ssoOn && !!sso?.required;

  if (status === "authenticated") return <Navigate to={from} replace />;

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const t = await login({ email, password, remember, totp: needTotp ? totp.trim() : undefined });
      setSession({ accessToken: t.access_token, refreshToken: remember ? null : t.refresh_token, user: t.user });
      navigate(from, { replace: true });
    } catch (err) {
      const apiErr = toApiError(err);
      switch (apiErr.code) {
        case "totp_required":
          setNeedTotp(true);
          break;
        case "invalid_totp":
          setError("That code is not valid. Enter the current 6-digit code from your app, or a recovery code.");
          break;
        case "totp_reused":
          // Right code, but spent already (each code signs in once): the next one will do.
          setError("That code was already used. Wait for the next code from your authenticator app, then enter it.");
          break;
        case "invalid_credentials":
          setError("Email or password is incorrect.");
          break;
        case "rate_limited":
          setError(retryText(apiErr.retryAfter));
          break;
        case "account_inactive":
          setError("This account is deactivated. Contact an administrator.");
          break;
        case "sso_required":
          // Only the break-glass administrators may still use a password.
          setError(`Password sign-in is turned off on this server: use “Sign in with ${sso?.provider_name || "SSO"}” instead.`);
          break;
        default:
          setError(apiErr.message);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthShell title={needTotp ? "Two-factor authentication" : "Sign in to Rookery"}>
      {ssoError && !error && !needTotp && (
        <div className="mb-4">
          <Alert>{ssoErrorMessage(ssoError)}</Alert>
        </div>
      )}
      {ssoOn && !needTotp && (
        <div className="mb-4 space-y-4">
          <SsoButton sso={sso} next={from} primary={ssoRequired} />
          {ssoRequired ? (
            <div className="border-t border-slate-700 pt-4">
              <h2 id="break-glass" className="text-sm font-semibold">Administrator emergency access</h2>
              <p className="mt-1 text-sm muted">
                This server signs people in through {sso.provider_name || "single sign-on"}. The password form below is only for administrators allowed to bypass it.
              </p>
            </div>
          ) : (
            <p className="flex items-center gap-3 text-xs muted" aria-hidden>
              <span className="h-px flex-1 bg-slate-700" />
              or
              <span className="h-px flex-1 bg-slate-700" />
            </p>
          )}
        </div>
      )}
      <form onSubmit={onSubmit} className="space-y-4" noValidate aria-labelledby={ssoRequired && !needTotp ? "break-glass" : undefined}>
        {error && <Alert>{error}</Alert>}
        {!error && !needTotp && state?.sessionEnded && <Alert tone="info">Your session ended; sign in again.</Alert>}
        {!needTotp ? (
          <>
            <Field label="Email" type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
            <Field label="Password" type="password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
            <div className="flex items-center justify-between">
              <label className="flex items-center gap-2 text-sm">
                <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} className="h-4 w-4 accent-sky-400" />
                Remember me
              </label>
              <Link to="/forgot-password" className="text-sm">Forgot password?</Link>
            </div>
          </>
        ) : (
          <>
            <p className="text-sm">Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
            <Field label="Authentication code" name="totp" autoComplete="one-time-code" autoFocus required value={totp} onChange={(e) => setTotp(e.target.value)} />
          </>
        )}
        <button type="submit" className={`${ssoRequired && !needTotp ? "btn-secondary" : "btn-primary"} w-full`} disabled={busy}>
          {busy ? "Signing in…" : needTotp ? "Verify" : "Sign in"}
        </button>
        {needTotp && (
          <button type="button" className="btn-secondary w-full" onClick={() => { setNeedTotp(false); setTotp(""); setError(null); }}>
            Back
          </button>
        )}
      </form>
    </AuthShell>
  );
}
