import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { getData, send } from "../../lib/api-client";
import { toApiError } from "../../lib/api-error";
import type { components } from "../../lib/api-schema.gen";
import { TEAMS_KEY, TEAM_ROLE_NAMES, type Team } from "../../lib/tenancy";

type Schemas = components["schemas"];

/** A member of a team and their team role (built-in or custom) with what it holds. */
export type Member = Partial<Schemas["MemberOut"]> & Pick<Schemas["MemberOut"], "user_id" | "role">;
/** A team role (GET /team-roles: the built-in ones, then the custom ones). */
export type TeamRole = Schemas["TeamRoleOut"];
export type TeamInput = Schemas["TeamCreateIn"];

export const membersKey = (teamId: number) => ["teams", teamId, "members"] as const;

export function useMembers(teamId: number | undefined) {
  return useQuery({
    queryKey: membersKey(teamId ?? 0),
    queryFn: () => getData<Member[]>(`/teams/${teamId}/members`, { per_page: 200 }),
    enabled: teamId !== undefined,
  });
}

/**
 * The team roles a member can be given: the built-in three, then the custom ones when the
 * caller may list them (roles:read); a 403 there just leaves the built-in ones.
 */
export function useTeamRoleNames() {
  return useQuery({
    queryKey: ["team-roles"],
    queryFn: async (): Promise<string[]> => {
      let custom: TeamRole[] = [];
      try {
        custom = await getData<TeamRole[]>("/team-roles", { per_page: 200 });
      } catch (err) {
        if (toApiError(err).status !== 403) throw err;
      }
      const names: string[] = [...TEAM_ROLE_NAMES];
      for (const r of custom) if (!names.includes(r.name)) names.push(r.name);
      return names;
    },
    staleTime: 60_000,
  });
}

export function useTeamMutations() {
  const qc = useQueryClient();
  const done = () => qc.invalidateQueries({ queryKey: TEAMS_KEY });
  return {
    create: useMutation({ mutationFn: (t: TeamInput) => send<Team>("post", "/teams", t), onSuccess: done }),
    update: useMutation({
      mutationFn: ({ id, ...t }: TeamInput & { id: number }) => send<Team>("patch", `/teams/${id}`, t),
      onSuccess: done,
    }),
    remove: useMutation({ mutationFn: (id: number) => send<void>("delete", `/teams/${id}`), onSuccess: done }),
  };
}

export function useMemberMutations(teamId: number) {
  const qc = useQueryClient();
  // A membership change may open or close rule sets and sensors for the member.
  const done = () => Promise.all([
    qc.invalidateQueries({ queryKey: membersKey(teamId) }),
    qc.invalidateQueries({ queryKey: TEAMS_KEY }),
  ]);
  return {
    add: useMutation({
      mutationFn: (m: Schemas["MemberIn"]) => send<Member>("post", `/teams/${teamId}/members`, m),
      onSuccess: done,
    }),
    change: useMutation({
      mutationFn: ({ user_id, role }: { user_id: number; role: string }) => send<Member>("patch", `/teams/${teamId}/members/${user_id}`, { role }),
      onSuccess: done,
    }),
    remove: useMutation({ mutationFn: (userId: number) => send<void>("delete", `/teams/${teamId}/members/${userId}`), onSuccess: done }),
  };
}

export const memberName = (m: Member, directory: Map<number, string>) => m.email || directory.get(m.user_id) || `User #${m.user_id}`;
