/**
 * Which scope each page needs: one table, read by the router guards and the sidebar.
 * Names follow the backend's scope catalogue (GET /api/v1/scopes).
 */
export const PAGE_SCOPES = {
  dashboard: "stats:read",
  rules: "rules:read",
  rulesWrite: "rules:write",
  users: "users:read",
  usersWrite: "users:write",
  usersAdmin: "users:admin",
  // Roles is an administration page: viewers may read roles through the API, but the page
  // exists to manage them.
  roles: "roles:admin",
  rolesWrite: "roles:admin",
  apikeys: "apikeys:read",
  apikeysWrite: "apikeys:write",
  audit: "audit:read",
  // The licence page and its expiry banner; installing a licence needs license:admin.
  license: "license:read",
  licenseAdmin: "license:admin",
  // Teams, sensors and rule sets: a global scope opens everything; a team role or a grant
  // opens what the API lists for the caller (lib/tenancy.ts).
  teams: "teams:read",
  teamsAdmin: "teams:admin",
  sensors: "sensors:read",
  sensorsAdmin: "sensors:admin",
  rulesetsAdmin: "rulesets:admin",
} as const;

export type PageKey = keyof typeof PAGE_SCOPES;
