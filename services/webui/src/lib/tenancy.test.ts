import { describe, expect, it } from "vitest";
import { mayOnRuleSet, resourceErrorMessage, sortRuleSets, teamRoleHolds, type RuleSet } from "./tenancy";
import { ApiError } from "./api-error";
import { viewerUser } from "../test/fake-backend";

describe("tenancy helpers", () => {
  it("puts the default rule set first, then the others by name", () => {
    const sets: RuleSet[] = [{ id: 3, name: "beta" }, { id: 2, name: "alpha" }, { id: 1, name: "default" }];
    expect(sortRuleSets(sets).map((s) => s.id)).toEqual([1, 2, 3]);
  });

  it("reads the caller's team role from the teams listing", () => {
    const teams = [{ id: 1, name: "blue", my_role: "team-maintainer" }, { id: 2, name: "red", my_role: null }];
    expect(teamRoleHolds(teams, 1, "rules:write")).toBe(true);
    expect(teamRoleHolds(teams, 1, "rulesets:admin")).toBe(false);
    expect(teamRoleHolds(teams, 2, "rules:read")).toBe(false);
    expect(teamRoleHolds(teams, null, "rules:read")).toBe(false);
    expect(teamRoleHolds(teams, 9, "rules:read")).toBe(false);
  });

  it("decides per rule set from global scopes, listed scopes, then the fallback", () => {
    expect(mayOnRuleSet(viewerUser, { id: 2, name: "x" }, "rules:read", false)).toBe(true);
    expect(mayOnRuleSet(viewerUser, { id: 2, name: "x", my_scopes: ["rules:write"] }, "rules:write", false)).toBe(true);
    expect(mayOnRuleSet(viewerUser, { id: 2, name: "x", my_scopes: [] }, "rules:write", true)).toBe(false);
    expect(mayOnRuleSet(viewerUser, { id: 2, name: "x" }, "rules:write", true)).toBe(true);
  });

  it("explains 409 and 404 answers", () => {
    const conflict = new ApiError(409, { code: "conflict", message: "a team named blue exists" });
    expect(resourceErrorMessage(conflict, "The team")).toMatch(/already exists.*a team named blue exists/);
    const gone = new ApiError(404, { code: "not_found", message: "no team 3" });
    expect(resourceErrorMessage(gone, "The team")).toMatch(/no longer exists/);
  });
});
