import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { Alert } from "../../components/Alert";
import { Field } from "../../components/Field";
import { errorMessage } from "../../lib/api-error";
import { AuthShell } from "./AuthShell";
import { requestPasswordReset } from "./api";

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await requestPasswordReset(email);
      setSent(true);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthShell title="Reset your password">
      {sent ? (
        <div className="space-y-4">
          <Alert tone="success">
            If an account exists for that address, a message with a reset link is on its way.
          </Alert>
          {/* The same words whatever the backend's mail_delivery says: how (or whether) this
              server sends mail is nothing to tell an anonymous visitor. */}
          <p className="text-sm">
            The link opens a page here where you choose a new password. No message after a few minutes? Ask an
            administrator to reset your password.
          </p>
          <Link to="/login">Back to sign in</Link>
        </div>
      ) : (
        <form onSubmit={onSubmit} className="space-y-4">
          {error && <Alert>{error}</Alert>}
          <p className="text-sm">Enter your account's email address and we will send you a reset link.</p>
          <Field label="Email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          <button type="submit" className="btn-primary w-full" disabled={busy}>Send reset link</button>
          <p className="text-center text-sm"><Link to="/login">Back to sign in</Link></p>
        </form>
      )}
    </AuthShell>
  );
}
