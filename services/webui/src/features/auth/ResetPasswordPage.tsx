import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { Alert } from "../../components/Alert";
import { Field } from "../../components/Field";
import { toApiError } from "../../lib/api-error";
import { AuthShell } from "./AuthShell";
import { resetPassword, type ResetResult } from "./api";

function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? "" : "s"}`;
}

export function ResetPasswordPage() {
  const [params] = useSearchParams();
  const [token, setToken] = useState(params.get("token") ?? "");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [revokeKeys, setRevokeKeys] = useState(true);
  const [done, setDone] = useState<ResetResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const mismatch = confirm.length > 0 && confirm !== password;

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (mismatch) return;
    setBusy(true);
    setError(null);
    try {
      setDone(await resetPassword(token.trim(), password, revokeKeys));
    } catch (err) {
      const apiErr = toApiError(err);
      setError(apiErr.code === "invalid_token" ? "This reset link is invalid or has expired. Request a new one." : apiErr.message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthShell title="Choose a new password">
      {done ? (
        <div className="space-y-4">
          <Alert tone="success">
            Your password has been changed. {plural(done.sessions_revoked, "session")} signed out
            {revokeKeys ? `, ${plural(done.api_keys_revoked, "API key")} revoked` : "; your API keys were kept"}.
          </Alert>
          <Link to="/login">Sign in</Link>
        </div>
      ) : (
        <form onSubmit={onSubmit} className="space-y-4">
          {error && <Alert>{error}</Alert>}
          {!params.get("token") && (
            <Field label="Reset token" required value={token} onChange={(e) => setToken(e.target.value)} />
          )}
          <Field label="New password" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          <Field label="Repeat new password" type="password" autoComplete="new-password" required value={confirm}
            error={mismatch ? "The passwords do not match." : undefined} onChange={(e) => setConfirm(e.target.value)} />
          <label className="flex items-start gap-2 text-sm">
            <input type="checkbox" checked={revokeKeys} onChange={(e) => setRevokeKeys(e.target.checked)} className="mt-0.5 h-4 w-4 accent-sky-400" />
            <span>Also revoke my API keys (recommended if someone else may have used your account)</span>
          </label>
          <button type="submit" className="btn-primary w-full" disabled={busy || mismatch || !password}>Set password</button>
          <p className="text-center text-sm"><Link to="/forgot-password">Request a new link</Link></p>
        </form>
      )}
    </AuthShell>
  );
}
