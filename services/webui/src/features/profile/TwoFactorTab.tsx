import { useEffect, useState, type FormEvent } from "react";
import { Check, Copy, Download } from "lucide-react";
import { Alert } from "../../components/Alert";
import { Dialog } from "../../components/Dialog";
import { Field } from "../../components/Field";
import { saveFile } from "../../lib/download";
import { toApiError, type ApiError } from "../../lib/api-error";
import { useAuthStore } from "../../lib/auth-store";
import { confirmTwoFactor, disableTwoFactor, fetchMe, startTwoFactor, type TwoFactorSetup } from "./api";
import { accountErrorText } from "./messages";

/** Splits a refusal into a message for the password field, the code field, or the form. */
function placeError(err: ApiError): { password?: string; code?: string; form?: string } {
  const text = accountErrorText(err);
  if (err.code === "invalid_password") return { password: text };
  if (["totp_required", "invalid_totp", "totp_reused"].includes(err.code)) return { code: text };
  return { form: text };
}

type Errors = ReturnType<typeof placeError>;

/** Step one of enrolment: the password, so a borrowed unlocked session cannot enrol its own phone. */
function StartForm({ onStarted }: { onStarted: (s: TwoFactorSetup) => void }) {
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setErrors({});
    setBusy(true);
    try {
      onStarted(await startTwoFactor(password));
    } catch (err) {
      setErrors(placeError(toApiError(err)));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={onSubmit} className="space-y-3">
      <p className="text-sm">Protect your account with a time-based code from an authenticator app. Enter your password to start.</p>
      {errors.form && <Alert>{errors.form}</Alert>}
      <Field label="Password" type="password" autoComplete="current-password" required value={password}
        error={errors.password} onChange={(e) => setPassword(e.target.value)} />
      <button type="submit" className="btn-primary" disabled={busy || !password}>Set up two-factor</button>
    </form>
  );
}

function ConfirmForm({ setup, onCancel, onEnabled }: {
  setup: TwoFactorSetup;
  onCancel: () => void;
  onEnabled: (recoveryCodes: string[]) => void;
}) {
  const [qr, setQr] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    // The QR encoder is only needed here: load it on demand.
    void import("qrcode").then((q) =>
      q.toDataURL(setup.otpauth_uri, { margin: 2, width: 200, color: { dark: "#0f172a", light: "#fef3c7" } }),
    ).then((url) => { if (live) setQr(url); });
    return () => { live = false; };
  }, [setup]);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const res = await confirmTwoFactor(code.trim());
      onEnabled(res.recovery_codes);
    } catch (err) {
      const apiErr = toApiError(err);
      setError(apiErr.code === "invalid_totp" ? "That code is not valid. Check your device's clock and try the current code." : accountErrorText(apiErr));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={onSubmit} className="space-y-3">
      {error && <Alert>{error}</Alert>}
      <p className="text-sm">Scan this code with an authenticator app, then enter the 6-digit code it shows.</p>
      {qr ? <img src={qr} width={200} height={200} alt="QR code for your authenticator app" className="rounded" /> : null}
      <p className="text-sm">
        Or type this key: <code className="break-all text-sky-200" data-testid="totp-secret">{setup.secret}</code>
      </p>
      {/* The start button just went away: focus goes to where the next step is typed, not the page. */}
      <Field label="Code from your app" inputMode="numeric" autoComplete="one-time-code" required autoFocus value={code} onChange={(e) => setCode(e.target.value)} />
      <div className="flex gap-2">
        <button type="submit" className="btn-primary" disabled={busy || !code}>Turn on two-factor</button>
        <button type="button" className="btn-secondary" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

/** Turning it off takes both factors: a stolen password alone must not remove the second. */
function DisableForm({ onDisabled }: { onDisabled: () => Promise<void> }) {
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setErrors({});
    setBusy(true);
    try {
      await disableTwoFactor(password, code.trim());
      setPassword("");
      setCode("");
      await onDisabled();
    } catch (err) {
      setErrors(placeError(toApiError(err)));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={onSubmit} className="space-y-3">
      <p className="text-sm">
        Two-factor authentication is <strong>enabled</strong>. To turn it off, enter your password and a code from your
        authenticator app or one of your recovery codes.
      </p>
      {errors.form && <Alert>{errors.form}</Alert>}
      <Field label="Password" type="password" autoComplete="current-password" required value={password}
        error={errors.password} onChange={(e) => setPassword(e.target.value)} />
      <Field label="Authenticator or recovery code" autoComplete="one-time-code" required value={code}
        error={errors.code} onChange={(e) => setCode(e.target.value)} />
      <button type="submit" className="btn-danger" disabled={busy || !password || !code.trim()}>Disable two-factor</button>
    </form>
  );
}

/**
 * The recovery codes, shown once after enrolment: copy them, download them as a .txt, and
 * only then close, with an explicit "I have saved them" (Escape does not close it).
 */
function RecoveryCodesDialog({ codes, email, onSaved }: { codes: string[]; email: string; onSaved: () => void }) {
  const [copied, setCopied] = useState(false);
  const text = `Rookery recovery codes for ${email}\nEach code signs in once, in place of an authenticator code.\n\n${codes.join("\n")}\n`;
  return (
    <Dialog open title="Save your recovery codes" onClose={onSaved} dismissible={false}>
      <div className="space-y-3">
        <Alert tone="warning">
          Two-factor is on. Store these recovery codes somewhere safe: each works once, and they are not shown again.
        </Alert>
        <ul className="grid grid-cols-2 gap-1 font-mono text-sm" aria-label="Recovery codes" data-testid="recovery-codes">
          {codes.map((c) => <li key={c}>{c}</li>)}
        </ul>
        <div className="flex flex-wrap gap-2">
          <button
            type="button"
            className="btn-secondary"
            onClick={async () => {
              try {
                await navigator.clipboard.writeText(codes.join("\n"));
                setCopied(true);
              } catch {
                setCopied(false);
              }
            }}
          >
            {copied ? <Check aria-hidden className="h-4 w-4" /> : <Copy aria-hidden className="h-4 w-4" />}
            {copied ? "Copied" : "Copy codes"}
          </button>
          <button type="button" className="btn-secondary" onClick={() => saveFile(new Blob([text], { type: "text/plain" }), "rookery-recovery-codes.txt")}>
            <Download aria-hidden className="h-4 w-4" /> Download .txt
          </button>
        </div>
        <div className="flex justify-end">
          <button type="button" className="btn-primary" onClick={onSaved}>I have saved them</button>
        </div>
      </div>
    </Dialog>
  );
}

export function TwoFactorTab() {
  const user = useAuthStore((s) => s.user)!;
  const setUser = useAuthStore((s) => s.setUser);
  const [setup, setSetup] = useState<TwoFactorSetup | null>(null);
  const [recovery, setRecovery] = useState<string[] | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  async function refreshMe() {
    setUser(await fetchMe());
  }

  return (
    <section className="card max-w-xl space-y-3" aria-labelledby="tf-title">
      <h2 id="tf-title" className="text-lg">Two-factor authentication</h2>
      {notice && <Alert tone="success">{notice}</Alert>}
      {recovery && (
        <RecoveryCodesDialog
          codes={recovery}
          email={user.email}
          onSaved={() => {
            setRecovery(null);
            setNotice("Two-factor authentication is on. Keep your recovery codes safe.");
          }}
        />
      )}
      {user.tf_enabled ? (
        <DisableForm onDisabled={async () => {
          setRecovery(null);
          setNotice("Two-factor authentication is off.");
          await refreshMe();
        }} />
      ) : setup ? (
        <ConfirmForm
          setup={setup}
          onCancel={() => setSetup(null)}
          onEnabled={async (codes) => {
            setRecovery(codes);
            setNotice(null);
            setSetup(null);
            await refreshMe();
          }}
        />
      ) : (
        <StartForm onStarted={(s) => { setNotice(null); setSetup(s); }} />
      )}
    </section>
  );
}
