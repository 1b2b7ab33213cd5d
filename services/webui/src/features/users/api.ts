import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, getData, getPage, send } from "../../lib/api-client";
import type { ApiError } from "../../lib/api-error";
import type { User } from "../../lib/auth-store";

/** A user as the users API lists it: flags built-in service accounts. */
export interface ListedUser extends User {
  /** A built-in machine account (rule publishing, sibling services): protected from changes. */
  service_account?: boolean;
}

/**
 * The backend refuses to deactivate, delete or re-role a built-in service account, or to
 * revoke its key, until the request is repeated with force; its message says what stops.
 */
export function isProtectedAccount(err: ApiError): boolean {
  return err.status === 409 && err.code === "protected_account";
}

/** The backend's warning without its advice to API callers (the dialog asks instead). */
export function protectedWarning(err: ApiError): string {
  return err.message.replace(/\s*Repeat with force=true[^.]*\.?\s*$/, "");
}

export interface UserFilters {
  q: string;
  status: "" | "active" | "inactive";
  role: string;
  page: number;
  per_page: number;
}

export interface Role {
  id: number | string;
  name: string;
  description: string;
  scopes: string[];
  builtin: boolean;
}

export interface ListMeta {
  total: number;
  page: number;
  per_page: number;
}

export function useUsers(f: UserFilters) {
  const params = Object.fromEntries(Object.entries(f).filter(([, v]) => v !== ""));
  return useQuery({
    queryKey: ["users", params],
    queryFn: async () => {
      const res = await getPage<ListedUser[]>("/users", params);
      return { users: res.data, meta: (res.meta ?? { total: res.data.length, page: 1, per_page: f.per_page }) as unknown as ListMeta };
    },
    placeholderData: keepPreviousData,
  });
}

export function useRoles(enabled = true) {
  return useQuery({ queryKey: ["roles"], queryFn: () => getData<Role[]>("/roles"), enabled });
}

export interface UserInput {
  email?: string;
  password?: string;
  roles?: string[];
  active?: boolean;
  /** Go ahead although the account is a built-in service account (after a warning). */
  force?: boolean;
}

export function useUserMutations() {
  const qc = useQueryClient();
  const done = () => qc.invalidateQueries({ queryKey: ["users"] });
  return {
    create: useMutation({ mutationFn: (u: UserInput) => send<User>("post", "/users", u), onSuccess: done }),
    update: useMutation({
      mutationFn: ({ id, ...u }: UserInput & { id: User["id"] }) => send<User>("patch", `/users/${id}`, u),
      onSuccess: done,
    }),
    remove: useMutation({
      mutationFn: async ({ id, force }: { id: User["id"]; force?: boolean }) => {
        await api.delete(`/users/${id}`, { params: force ? { force: true } : undefined });
      },
      onSuccess: done,
    }),
  };
}
