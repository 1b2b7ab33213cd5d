import { useId } from "react";
import { hasScope, useAuthStore } from "../lib/auth-store";
import { useUserDirectory } from "../lib/tenancy";

/** How an account is named in a member or grant body: by e-mail address (anyone), or by
 * id (only a caller holding the global users:read scope may; the API refuses it otherwise). */
export type AccountRef = { email: string } | { user_id: number };

/**
 * The text of an AccountField as a request body's account: an e-mail address, or a plain
 * number as an id for a caller who may list accounts. `error` says what to fix instead.
 */
export function accountRef(text: string, canUseIds: boolean): { ref: AccountRef } | { error: string } {
  const t = text.trim();
  if (!t) return { error: "Give the user's e-mail address." };
  if (/^\d+$/.test(t)) return canUseIds ? { ref: { user_id: Number(t) } } : { error: "Give the user's e-mail address (naming users by id needs users:read)." };
  return { ref: { email: t } };
}

/**
 * An account named by its e-mail address: always typed, suggested from the user directory
 * when the caller may read it (and then an id works too).
 */
export function AccountField({ value, onChange, error, label = "User's e-mail address" }: {
  value: string;
  onChange: (text: string) => void;
  error?: string;
  label?: string;
}) {
  const me = useAuthStore((s) => s.user);
  const canList = hasScope(me, "users:read");
  const directory = useUserDirectory({ enabled: canList });
  const id = useId();
  const listId = `${id}-list`;
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  return (
    <div>
      <label htmlFor={id} className="label">{label}</label>
      <input
        id={id}
        className="input"
        type="text"
        inputMode="email"
        list={canList ? listId : undefined}
        value={value}
        autoComplete="off"
        spellCheck={false}
        maxLength={255}
        aria-invalid={error ? true : undefined}
        aria-describedby={[hintId, error ? errId : null].filter(Boolean).join(" ")}
        onChange={(e) => onChange(e.target.value)}
      />
      {canList && (
        <datalist id={listId}>
          {directory.data?.map((u) => <option key={u.id} value={u.email} />)}
        </datalist>
      )}
      <p id={hintId} className="mt-1 text-xs muted">
        {canList ? "Their e-mail address (suggested as you type), or their user id." : "Their e-mail address, as they sign in with it."}
      </p>
      {error && <p id={errId} className="field-error" role="alert">{error}</p>}
    </div>
  );
}
