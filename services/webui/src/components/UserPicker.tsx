import { useId } from "react";
import { hasScope, useAuthStore } from "../lib/auth-store";
import { useUserDirectory } from "../lib/tenancy";

/**
 * A user named by e-mail (suggested from the user directory when the caller may read it) or
 * by id. The parent turns the text into an id with resolveUser().
 */
export function UserPicker({ value, onChange, error, label = "User" }: {
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
        list={canList ? listId : undefined}
        value={value}
        autoComplete="off"
        aria-invalid={error ? true : undefined}
        aria-describedby={[hintId, error ? errId : null].filter(Boolean).join(" ")}
        onChange={(e) => onChange(e.target.value)}
      />
      {canList && (
        <datalist id={listId}>
          {directory.data?.map((u) => <option key={u.id} value={u.email} />)}
        </datalist>
      )}
      <p id={hintId} className="mt-1 text-xs muted">{canList ? "The user's e-mail address (or their id)." : "The user's id (a number)."}</p>
      {error && <p id={errId} className="field-error" role="alert">{error}</p>}
    </div>
  );
}
