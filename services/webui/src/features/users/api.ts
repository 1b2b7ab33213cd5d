import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getData, getPage, send } from "../../lib/api-client";
import type { User } from "../../lib/auth-store";

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
      const res = await getPage<User[]>("/users", params);
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
    remove: useMutation({ mutationFn: (id: User["id"]) => send<void>("delete", `/users/${id}`), onSuccess: done }),
  };
}
