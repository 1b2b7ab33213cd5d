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
} as const;

export type PageKey = keyof typeof PAGE_SCOPES;
