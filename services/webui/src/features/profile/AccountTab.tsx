import { useState, type FormEvent } from "react";
import { Alert } from "../../components/Alert";
import { Field } from "../../components/Field";
import { toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";
import { useAuthStore } from "../../lib/auth-store";
import { changeEmail } from "./api";
import { accountErrorText } from "./messages";

type Message = { tone: "error" | "success"; text: string };

const FIELD_OF: Record<string, string> = {
  invalid_password: "current_password",
  reauthentication_required: "current_password",
  invalid_totp: "totp",
  totp_reused: "totp",
  conflict: "email",
};

/**
 * Changing the sign-in address is a takeover path, so the backend asks for proof that the
 * owner is here: the current password, or with two-factor on, an authenticator code.
 */
function EmailForm() {
  const user = useAuthStore((s) => s.user)!;
  const setUser = useAuthStore((s) => s.setUser);
  const [email, setEmail] = useState(user.email);
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [withCode, setWithCode] = useState(false);
  const [msg, setMsg] = useState<Message | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const proofGiven = withCode ? code.trim() !== "" : password !== "";

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setMsg(null);
    setFields({});
    setBusy(true);
    const previous = user.email;
    try {
      const updated = await changeEmail(email.trim(), withCode ? { totp: code.trim() } : { current_password: password });
      setUser(updated);
      setEmail(updated.email);
      setPassword("");
      setCode("");
      setMsg({ tone: "success", text: `E-mail updated. A notice was sent to ${previous}.` });
    } catch (err) {
      // The message goes next to the field it is about, or above the form.
      const apiErr = toApiError(err);
      const text = accountErrorText(apiErr);
      const field = FIELD_OF[apiErr.code] ?? (apiErr.fieldErrors.email ? "email" : null);
      if (field) setFields({ [field]: field === "email" && apiErr.code !== "conflict" ? apiErr.fieldErrors.email : text });
      else setMsg({ tone: "error", text });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={onSubmit} className="card space-y-3">
      <h2 className="text-lg">Email</h2>
      {msg && <Alert tone={msg.tone}>{msg.text}</Alert>}
      <Field label="Email address" type="email" required value={email} error={fields.email}
        onChange={(e) => setEmail(e.target.value)} />
      {withCode ? (
        <Field label="Code from your authenticator app" inputMode="numeric" autoComplete="one-time-code" required
          value={code} error={fields.totp} onChange={(e) => setCode(e.target.value)} />
      ) : (
        <Field label="Current password" type="password" autoComplete="current-password" required
          value={password} error={fields.current_password} onChange={(e) => setPassword(e.target.value)}
          hint="Needed to change the address you sign in with; your old address is told about the change." />
      )}
      {user.tf_enabled && (
        <button type="button" className="text-sm text-sky-200 underline" onClick={() => { setWithCode(!withCode); setFields({}); }}>
          {withCode ? "Confirm with your password instead" : "Confirm with an authenticator code instead"}
        </button>
      )}
      <div>
        <button type="submit" className="btn-primary" disabled={busy || email.trim() === user.email || !proofGiven}>Save email</button>
      </div>
    </form>
  );
}

export function AccountTab() {
  const user = useAuthStore((s) => s.user)!;
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <EmailForm />
      <section className="card text-sm" aria-labelledby="acct-details">
        <h2 id="acct-details" className="mb-2 text-lg">Account</h2>
        <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1">
          <dt className="text-amber-300">Roles</dt><dd>{user.roles.join(", ") || "—"}</dd>
          <dt className="text-amber-300">Scopes</dt><dd className="break-words">{user.scopes.join(", ") || "—"}</dd>
          <dt className="text-amber-300">Two-factor</dt><dd>{user.tf_enabled ? "enabled" : "disabled"}</dd>
          <dt className="text-amber-300">Logins</dt><dd>{user.login_count ?? "—"}</dd>
          <dt className="text-amber-300">Last login</dt><dd>{formatWhen(user.last_login_at)}</dd>
        </dl>
      </section>
    </div>
  );
}
