import { useEffect, useState, type FormEvent } from "react";
import { Alert } from "../../components/Alert";
import { Field } from "../../components/Field";
import { PageHeader } from "../../components/PageHeader";
import { Tabs } from "../../components/Tabs";
import { api, send, type Envelope } from "../../lib/api-client";
import { toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";
import { useAuthStore, type User } from "../../lib/auth-store";

function AccountTab() {
  const user = useAuthStore((s) => s.user)!;
  const setUser = useAuthStore((s) => s.setUser);
  const [email, setEmail] = useState(user.email);
  const [msg, setMsg] = useState<{ tone: "error" | "success"; text: string } | null>(null);
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    try {
      const updated = await send<User>("patch", "/auth/me", { email });
      if (updated) setUser(updated);
      setMsg({ tone: "success", text: "Email updated." });
    } catch (err) {
      setMsg({ tone: "error", text: toApiError(err).message });
    }
  }
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <form onSubmit={onSubmit} className="card space-y-3">
        <h2 className="text-lg">Email</h2>
        {msg && <Alert tone={msg.tone}>{msg.text}</Alert>}
        <Field label="Email address" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <button type="submit" className="btn-primary" disabled={email === user.email}>Save email</button>
      </form>
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

function PasswordTab() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [msg, setMsg] = useState<{ tone: "error" | "success"; text: string } | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const mismatch = repeat.length > 0 && repeat !== next;
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (mismatch) return;
    setFields({});
    try {
      await api.post("/auth/password", { current_password: current, new_password: next });
      setCurrent(""); setNext(""); setRepeat("");
      setMsg({ tone: "success", text: "Password changed." });
    } catch (err) {
      const apiErr = toApiError(err);
      setFields(apiErr.fieldErrors);
      setMsg({ tone: "error", text: apiErr.message });
    }
  }
  return (
    <form onSubmit={onSubmit} className="card max-w-md space-y-3">
      <h2 className="text-lg">Change password</h2>
      {msg && <Alert tone={msg.tone}>{msg.text}</Alert>}
      <Field label="Current password" type="password" autoComplete="current-password" required value={current} error={fields.current_password} onChange={(e) => setCurrent(e.target.value)} />
      <Field label="New password" type="password" autoComplete="new-password" required value={next} error={fields.new_password} onChange={(e) => setNext(e.target.value)} />
      <Field label="Repeat new password" type="password" autoComplete="new-password" required value={repeat} error={mismatch ? "The passwords do not match." : undefined} onChange={(e) => setRepeat(e.target.value)} />
      <button type="submit" className="btn-primary" disabled={!current || !next || mismatch}>Change password</button>
    </form>
  );
}

function TwoFactorTab() {
  const user = useAuthStore((s) => s.user)!;
  const setUser = useAuthStore((s) => s.setUser);
  const [setup, setSetup] = useState<{ secret: string; otpauth_uri: string } | null>(null);
  const [qr, setQr] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [recovery, setRecovery] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!setup) return;
    let live = true;
    // The QR encoder is only needed here: load it on demand.
    void import("qrcode").then((q) =>
      q.toDataURL(setup.otpauth_uri, { margin: 2, width: 200, color: { dark: "#0f172a", light: "#fef3c7" } }),
    ).then((url) => { if (live) setQr(url); });
    return () => { live = false; };
  }, [setup]);

  async function refreshMe() {
    const res = await api.get<Envelope<User>>("/auth/me");
    setUser(res.data.data);
  }

  async function start() {
    setError(null);
    try {
      setSetup(await send<{ secret: string; otpauth_uri: string }>("post", "/auth/2fa/setup"));
    } catch (err) { setError(toApiError(err).message); }
  }
  async function confirm(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      const res = await send<{ recovery_codes: string[] }>("post", "/auth/2fa/confirm", { code: code.trim() });
      setRecovery(res.recovery_codes);
      setSetup(null); setQr(null); setCode("");
      await refreshMe();
    } catch (err) {
      const apiErr = toApiError(err);
      setError(apiErr.code === "invalid_totp" ? "That code is not valid. Check your device's clock and try the current code." : apiErr.message);
    }
  }
  async function disable(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      await send("post", "/auth/2fa/disable", { password });
      setPassword(""); setRecovery(null);
      await refreshMe();
    } catch (err) { setError(toApiError(err).message); }
  }

  return (
    <section className="card max-w-xl space-y-3" aria-labelledby="tf-title">
      <h2 id="tf-title" className="text-lg">Two-factor authentication</h2>
      {error && <Alert>{error}</Alert>}
      {recovery && (
        <div className="space-y-2">
          <Alert tone="warning">Two-factor is on. Store these recovery codes somewhere safe: each works once, and they are not shown again.</Alert>
          <ul className="grid grid-cols-2 gap-1 font-mono text-sm" aria-label="Recovery codes" data-testid="recovery-codes">
            {recovery.map((c) => <li key={c}>{c}</li>)}
          </ul>
        </div>
      )}
      {user.tf_enabled ? (
        <form onSubmit={disable} className="space-y-3">
          <p className="text-sm">Two-factor authentication is <strong>enabled</strong>. Enter your password to turn it off.</p>
          <Field label="Password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          <button type="submit" className="btn-danger" disabled={!password}>Disable two-factor</button>
        </form>
      ) : setup ? (
        <form onSubmit={confirm} className="space-y-3">
          <p className="text-sm">Scan this code with an authenticator app, then enter the 6-digit code it shows.</p>
          {qr ? <img src={qr} width={200} height={200} alt="QR code for your authenticator app" className="rounded" /> : null}
          <p className="text-sm">
            Or type this key: <code className="break-all text-sky-200" data-testid="totp-secret">{setup.secret}</code>
          </p>
          <Field label="Code from your app" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
          <div className="flex gap-2">
            <button type="submit" className="btn-primary" disabled={!code}>Turn on two-factor</button>
            <button type="button" className="btn-secondary" onClick={() => { setSetup(null); setQr(null); }}>Cancel</button>
          </div>
        </form>
      ) : (
        <>
          <p className="text-sm">Protect your account with a time-based code from an authenticator app.</p>
          <button type="button" className="btn-primary" onClick={start}>Set up two-factor</button>
        </>
      )}
    </section>
  );
}

export default function ProfilePage() {
  const [tab, setTab] = useState("account");
  return (
    <>
      <PageHeader title="Profile" />
      <Tabs
        label="Profile sections"
        active={tab}
        onChange={setTab}
        tabs={[
          { id: "account", label: "Account", content: <AccountTab /> },
          { id: "password", label: "Password", content: <PasswordTab /> },
          { id: "2fa", label: "Two-factor", content: <TwoFactorTab /> },
        ]}
      />
    </>
  );
}
