import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate } from "react-router";
import { Alert } from "../../components/Alert";
import { Field } from "../../components/Field";
import { toApiError } from "../../lib/api-error";
import { useAuthStore } from "../../lib/auth-store";
import { AuthShell } from "./AuthShell";
import type { LoginState } from "./guards";
import { login } from "./api";

function retryText(seconds: number | null): string {
  if (!seconds) return "Too many sign-in attempts. Please wait a moment and try again.";
  const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString();
  return `Too many sign-in attempts. Try again in ${seconds} second${seconds === 1 ? "" : "s"} (at ${at}).`;
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
        default:
          setError(apiErr.message);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthShell title={needTotp ? "Two-factor authentication" : "Sign in to Rookery"}>
      <form onSubmit={onSubmit} className="space-y-4" noValidate>
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
        <button type="submit" className="btn-primary w-full" disabled={busy}>
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
