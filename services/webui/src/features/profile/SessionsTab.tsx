import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router";
import { LogOut } from "lucide-react";
import { Alert } from "../../components/Alert";
import { ConfirmDialog } from "../../components/Dialog";
import { Loading } from "../../components/Loading";
import { signOut } from "../../lib/api-client";
import { toApiError } from "../../lib/api-error";
import { formatWhen } from "../../lib/format";
import { useSessionMutations, useSessions, type Session } from "./api";
import { accountErrorText } from "./messages";
import { describeUserAgent } from "./user-agent";

/**
 * Every place the account is signed in (one row per refresh-token family), so a user who
 * sees a device they do not know can end it, or every session but this one.
 */
export function SessionsTab() {
  const sessions = useSessions();
  const { endOne, endOthers } = useSessionMutations();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const [confirmOthers, setConfirmOthers] = useState(false);
  const [msg, setMsg] = useState<{ tone: "error" | "success"; text: string } | null>(null);
  const others = (sessions.data ?? []).filter((s) => !s.current).length;

  async function end(session: Session) {
    setMsg(null);
    try {
      await endOne.mutateAsync(session);
      if (session.current) {
        // This tab's own session: its tokens are dead, so leave the way logout does.
        await signOut();
        qc.clear();
        navigate("/login", { replace: true });
        return;
      }
      setMsg({ tone: "success", text: `Signed out ${describeUserAgent(session.user_agent)}.` });
    } catch (err) {
      setMsg({ tone: "error", text: accountErrorText(toApiError(err)) });
    }
  }

  async function endAllOthers() {
    setMsg(null);
    try {
      const res = await endOthers.mutateAsync();
      const n = res?.ended ?? 0;
      setMsg({ tone: "success", text: `Signed out ${n} other session${n === 1 ? "" : "s"}.` });
    } catch (err) {
      setMsg({ tone: "error", text: accountErrorText(toApiError(err)) });
    }
    setConfirmOthers(false);
  }

  return (
    <section className="card space-y-3 p-0" aria-labelledby="sessions-title">
      <div className="flex flex-wrap items-center justify-between gap-3 px-4 pt-4">
        <div>
          <h2 id="sessions-title" className="text-lg">Sessions</h2>
          <p className="text-sm muted">Browsers and devices signed in to your account. Sign out any you do not recognise.</p>
        </div>
        <button type="button" className="btn-danger" disabled={others === 0 || endOthers.isPending} onClick={() => setConfirmOthers(true)}>
          Sign out all other sessions
        </button>
      </div>
      {msg && <div className="px-4"><Alert tone={msg.tone}>{msg.text}</Alert></div>}
      {sessions.isLoading ? (
        <Loading />
      ) : sessions.isError ? (
        <div className="px-4 pb-4"><Alert>{accountErrorText(toApiError(sessions.error))}</Alert></div>
      ) : (
        <div className="overflow-x-auto">
          <table className="table">
            <caption className="sr-only">Signed-in sessions</caption>
            <thead>
              <tr>
                <th scope="col">Device</th><th scope="col">IP address</th><th scope="col">Signed in</th>
                <th scope="col">Last used</th><th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {sessions.data?.map((s) => {
                const device = describeUserAgent(s.user_agent);
                const rowId = `session-${s.id}`;
                return (
                  <tr key={s.id} data-testid="session-row">
                    <td id={rowId}>
                      <span title={s.user_agent ?? undefined}>{device}</span>
                      {s.current && <span className="badge ml-2 bg-sky-300 text-slate-950">this session</span>}
                    </td>
                    <td>{s.ip || "—"}</td>
                    <td>{formatWhen(s.created_at)}</td>
                    <td>{formatWhen(s.last_used_at)}</td>
                    <td className="whitespace-nowrap text-right">
                      <button type="button" className="btn-secondary" aria-describedby={rowId}
                        disabled={endOne.isPending} onClick={() => void end(s)}>
                        <LogOut aria-hidden className="h-4 w-4" /> Sign out
                      </button>
                    </td>
                  </tr>
                );
              })}
              {sessions.data?.length === 0 && <tr><td colSpan={5} className="muted">No sessions.</td></tr>}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={confirmOthers}
        title="Sign out all other sessions"
        message={<>Sign out {others} other session{others === 1 ? "" : "s"}? Every other browser and device signed in as you will have to sign in again. This session stays signed in.</>}
        confirmLabel="Sign out others"
        busy={endOthers.isPending}
        onConfirm={() => void endAllOthers()}
        onCancel={() => setConfirmOthers(false)}
      />
    </section>
  );
}
