import { useState, type FormEvent } from "react";
import { Alert } from "../../components/Alert";
import { Field } from "../../components/Field";
import { PageHeader } from "../../components/PageHeader";
import { Tabs } from "../../components/Tabs";
import { toApiError } from "../../lib/api-error";
import { AccountTab } from "./AccountTab";
import { changePassword } from "./api";
import { accountErrorText } from "./messages";
import { SessionsTab } from "./SessionsTab";
import { TwoFactorTab } from "./TwoFactorTab";

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
      await changePassword(current, next);
      setCurrent(""); setNext(""); setRepeat("");
      setMsg({ tone: "success", text: "Password changed." });
    } catch (err) {
      const apiErr = toApiError(err);
      setFields(apiErr.fieldErrors);
      setMsg({ tone: "error", text: apiErr.code === "invalid_password" ? "The current password is wrong." : accountErrorText(apiErr) });
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
          { id: "sessions", label: "Sessions", content: <SessionsTab /> },
        ]}
      />
    </>
  );
}
