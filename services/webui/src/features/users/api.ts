import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, getPage, send } from "../../lib/api-client";
import type { components } from "../../lib/api-schema.gen";
import type { User } from "../../lib/auth-store";
import { downloadFromApi } from "../../lib/download";


/**
 * A user as the users API lists it; `service_account` marks a built-in machine account (rule
 * publishing, sibling services), protected from changes.
 */
export type ListedUser = User;

/** The filters GET /users and GET /users/export share (the server applies them). */
export interface UserFilters {
  q: string;
  status: "" | "active" | "inactive";
  role: string;
}

/** The largest page the API serves, and how many pages the table reads at most. */
const FETCH_PAGE = 200;
const MAX_PAGES = 50;

export function userParams(f: UserFilters): Record<string, string> {
  const params: Record<string, string> = {};
  if (f.q.trim()) params.q = f.q.trim();
  if (f.status) params.status = f.status;
  if (f.role) params.role = f.role;
  return params;
}

/**
 * Every user the filters select. The API pages in creation order and cannot sort, so the
 * table reads the whole selection (200 a request) and sorts and pages it itself: a sort by
 * e-mail or last login must cover every page, and a new user's place is known.
 */
export function useUsers(f: UserFilters) {
  const params = userParams(f);
  return useQuery({
    queryKey: ["users", params],
    queryFn: async () => {
      const users: ListedUser[] = [];
      let total = 0;
      for (let page = 1; page <= MAX_PAGES; page++) {
        const res = await getPage<ListedUser[]>("/users", { ...params, page, per_page: FETCH_PAGE });
        users.push(...res.data);
        total = Number(res.meta?.total ?? users.length);
        if (res.data.length < FETCH_PAGE || users.length >= total) break;
      }
      return { users, total };
    },
    placeholderData: keepPreviousData,
  });
}

/** Downloads the server's CSV of every user the filters select. */
export function downloadUsersCsv(f: UserFilters): Promise<void> {
  return downloadFromApi("/users/export", userParams(f), "rookery-users.csv");
}

/** POST /users. */
export type UserCreateInput = components["schemas"]["UserCreateIn"];
/** PATCH /users/{id}; `force` goes ahead although the account is a built-in service account. */
export type UserPatchInput = components["schemas"]["UserPatchIn"];

export function useUserMutations() {
  const qc = useQueryClient();
  const done = () => qc.invalidateQueries({ queryKey: ["users"] });
  return {
    create: useMutation({ mutationFn: (u: UserCreateInput) => send<User>("post", "/users", u), onSuccess: done }),
    update: useMutation({
      mutationFn: ({ id, ...u }: UserPatchInput & { id: User["id"] }) => send<User>("patch", `/users/${id}`, u),
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
