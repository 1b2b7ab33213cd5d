import { useId, useState, type FormEvent, type ReactNode } from "react";
import { Alert } from "../../components/Alert";
import { Loading } from "../../components/Loading";
import { PageHeader } from "../../components/PageHeader";
import { toApiError } from "../../lib/api-error";
import { hasScope, useAuthStore } from "../../lib/auth-store";
import { formatWhen } from "../../lib/format";
import { KNOWN_FEATURES, featureLabel, licenseWarning, toDate, type LicenseState } from "../../lib/license";
import { PAGE_SCOPES } from "../../lib/permissions";
import { useInstallLicense, useLicenseStatus, type LicenseStatus } from "./api";

const STATUS_TEXT: Record<LicenseState, { label: string; badge: string }> = {
  valid: { label: "Valid", badge: "bg-emerald-300 text-slate-950" },
  grace: { label: "Expired — grace period", badge: "bg-yellow-300 text-slate-950" },
  expired: { label: "Expired", badge: "bg-red-300 text-slate-950" },
  not_yet_valid: { label: "Not yet valid", badge: "bg-yellow-300 text-slate-950" },
  unlicensed: { label: "No licence", badge: "bg-slate-300 text-slate-950" },
  development: { label: "Development mode", badge: "bg-sky-300 text-slate-950" },
};

const TIERS: Record<string, string> = { community: "Community", professional: "Professional", enterprise: "Enterprise" };

function StatusBadge({ status }: { status: LicenseState }) {
  const s = STATUS_TEXT[status] ?? { label: status, badge: "bg-slate-300 text-slate-950" };
  return <span className={`badge ${s.badge}`}>{s.label}</span>;
}

function seatsText(seats: LicenseStatus["seats"]): string {
  if (!seats) return "—";
  return seats.limit ? `${seats.used} of ${seats.limit}` : `${seats.used} (no limit)`;
}

function Row({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="grid grid-cols-[10rem_1fr] gap-2 py-1">
      <dt className="font-medium text-amber-200">{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function Summary({ s }: { s: LicenseStatus }) {
  const daysLeft = s.status === "valid" || s.status === "grace" ? s.days_left : null;
  return (
    <section className="card" aria-labelledby="license-summary">
      <h2 id="license-summary" className="mb-2 text-lg">Current licence</h2>
      {s.status === "development" && (
        <div className="mb-3">
          <Alert tone="info">This server runs in development mode: every feature is on and no licence is checked.</Alert>
        </div>
      )}
      {s.status === "unlicensed" && (
        <div className="mb-3">
          <Alert tone="warning">No licence is installed: the licensed features are off. Install one below.</Alert>
        </div>
      )}
      <dl className="text-sm">
        <Row term="Mode">{s.mode === "production" ? "Production" : s.mode === "development" ? "Development" : s.mode}</Row>
        <Row term="Status"><StatusBadge status={s.status} /></Row>
        <Row term="Customer">{s.customer ?? "—"}</Row>
        <Row term="Tier">{s.tier ? TIERS[s.tier] ?? s.tier : "—"}</Row>
        <Row term="Licence ID">{s.id ? <code className="break-all">{s.id}</code> : "—"}</Row>
        <Row term="Seats used">{seatsText(s.seats)}</Row>
        <Row term="Issued">{formatWhen(s.issued_at)}</Row>
        <Row term="Valid from">{formatWhen(s.not_before)}</Row>
        <Row term="Expires">{formatWhen(s.expires_at)}</Row>
        {toDate(s.grace_ends_at) && <Row term="Grace period ends">{formatWhen(s.grace_ends_at)}</Row>}
        <Row term="Days left">{daysLeft ?? "—"}</Row>
        {s.source && <Row term="Installed from"><code className="break-all">{s.source}</code></Row>}
      </dl>
    </section>
  );
}

function Features({ s }: { s: LicenseStatus }) {
  const names = [...new Set([...KNOWN_FEATURES, ...s.features, ...s.features_active])];
  return (
    <section className="card" aria-labelledby="license-features">
      <h2 id="license-features" className="mb-2 text-lg">Features</h2>
      <div className="table-scroll">
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Feature</th>
              <th scope="col">In the licence</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {names.map((f) => {
              const active = s.features_active.includes(f);
              return (
                <tr key={f} data-feature={f}>
                  <th scope="row" className="font-normal">{featureLabel(f)}</th>
                  <td>{s.features.includes(f) ? "Yes" : "No"}</td>
                  <td>
                    <span className={`badge ${active ? "bg-emerald-300 text-slate-950" : "bg-slate-700 text-amber-100"}`}>
                      {active ? "Active" : "Inactive"}
                    </span>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Warnings({ s }: { s: LicenseStatus }) {
  const banner = licenseWarning(s);
  if (!s.warnings.length && !banner) return null;
  return (
    <section aria-labelledby="license-warnings">
      <h2 id="license-warnings" className="sr-only">Warnings</h2>
      <Alert tone="warning">
        {banner && <p>{banner.text}</p>}
        {s.warnings.length > 0 && (
          <ul className="list-disc pl-5">
            {s.warnings.map((w) => <li key={w}>{w}</li>)}
          </ul>
        )}
      </Alert>
    </section>
  );
}

/** The licence text form: the server's reason on a refusal, the new licence on success. */
function InstallForm() {
  const install = useInstallLicense();
  const [text, setText] = useState("");
  const [msg, setMsg] = useState<{ tone: "error" | "success"; text: string } | null>(null);
  const id = useId();

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setMsg(null);
    const value = text.trim();
    if (!value) {
      setMsg({ tone: "error", text: "Paste the licence text first." });
      return;
    }
    try {
      const s = await install.mutateAsync(value);
      setText("");
      const who = s?.customer ? ` for ${s.customer}` : "";
      const tier = s?.tier ? ` (${TIERS[s.tier] ?? s.tier})` : "";
      const until = s?.expires_at ? `, valid until ${formatWhen(s.expires_at)}` : "";
      setMsg({ tone: "success", text: `Licence installed${who}${tier}${until}.` });
    } catch (err) {
      setMsg({ tone: "error", text: toApiError(err).message });
    }
  }

  return (
    <form onSubmit={onSubmit} className="card space-y-3" aria-labelledby={`${id}-title`} noValidate>
      <h2 id={`${id}-title`} className="text-lg">Install licence</h2>
      {msg && <Alert tone={msg.tone}>{msg.text}</Alert>}
      <div>
        <label htmlFor={`${id}-text`} className="label">Licence text</label>
        <textarea
          id={`${id}-text`}
          name="license"
          className="input min-h-32 font-mono text-xs"
          spellCheck={false}
          autoComplete="off"
          aria-describedby={`${id}-hint`}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <p id={`${id}-hint`} className="mt-1 text-xs muted">
          Paste the whole licence as you received it (it starts with <code>rookery1.</code>). It replaces the current one at once, on every server.
        </p>
      </div>
      <button type="submit" className="btn-primary" disabled={install.isPending}>
        {install.isPending ? "Installing…" : "Install licence"}
      </button>
    </form>
  );
}

export default function LicensePage() {
  const user = useAuthStore((s) => s.user);
  const status = useLicenseStatus();
  const canInstall = hasScope(user, PAGE_SCOPES.licenseAdmin);
  return (
    <>
      <PageHeader title="Licence" />
      <div className="space-y-4">
        {status.isPending && <Loading label="Loading the licence…" />}
        {status.isError && <Alert>{toApiError(status.error).message}</Alert>}
        {status.data && (
          <>
            <Warnings s={status.data} />
            <Summary s={status.data} />
            <Features s={status.data} />
          </>
        )}
        {canInstall && <InstallForm />}
      </div>
    </>
  );
}
