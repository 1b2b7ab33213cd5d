import { lazy, type ReactNode } from "react";
import { Navigate, Route, Routes } from "react-router";
import { Layout } from "./components/Layout";
import { NotFound } from "./components/Forbidden";
import { Loading } from "./components/Loading";
import { RequireAuth, RequireScope, RequireSection } from "./features/auth/guards";
import { LoginPage } from "./features/auth/LoginPage";
import { ForgotPasswordPage } from "./features/auth/ForgotPasswordPage";
import { ResetPasswordPage } from "./features/auth/ResetPasswordPage";
import { hasScope, useAuthStore } from "./lib/auth-store";
import { PAGE_SCOPES } from "./lib/permissions";
import { useSectionAccess, type ResourcePage } from "./lib/tenancy";

// Every page behind the login is its own chunk: the login screen loads only what it needs.
const DashboardPage = lazy(() => import("./features/dashboard/DashboardPage"));
const RulesPage = lazy(() => import("./features/rules/RulesPage"));
const UsersPage = lazy(() => import("./features/users/UsersPage"));
const RolesPage = lazy(() => import("./features/roles/RolesPage"));
const ApiKeysPage = lazy(() => import("./features/api-keys/ApiKeysPage"));
const AuditPage = lazy(() => import("./features/audit/AuditPage"));
const LicensePage = lazy(() => import("./features/license/LicensePage"));
const ProfilePage = lazy(() => import("./features/profile/ProfilePage"));
const TeamsPage = lazy(() => import("./features/teams/TeamsPage"));
const SensorsPage = lazy(() => import("./features/sensors/SensorsPage"));

/** "/" goes to the first page the user may see. */
function Home() {
  const user = useAuthStore((s) => s.user);
  // A team member or a grantee holds no global scope: the rule sets the API lists decide.
  const dashboard = useSectionAccess("dashboard");
  const rules = useSectionAccess("rules");
  if (hasScope(user, PAGE_SCOPES.dashboard) || dashboard === "yes") return <Navigate to="/dashboard" replace />;
  if (hasScope(user, PAGE_SCOPES.rules) || rules === "yes") return <Navigate to="/rules" replace />;
  if (dashboard === "checking" || rules === "checking") return <Loading />;
  return <Navigate to="/profile" replace />;
}

const guarded = (scope: string, page: ReactNode) => <RequireScope scope={scope}>{page}</RequireScope>;
const section = (key: ResourcePage, scope: string, page: ReactNode) => <RequireSection page={key} scope={scope}>{page}</RequireSection>;

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/forgot-password" element={<ForgotPasswordPage />} />
      <Route path="/reset-password" element={<ResetPasswordPage />} />
      <Route
        element={
          <RequireAuth>
            <Layout />
          </RequireAuth>
        }
      >
        <Route index element={<Home />} />
        <Route path="dashboard" element={section("dashboard", PAGE_SCOPES.dashboard, <DashboardPage />)} />
        <Route path="rules" element={section("rules", PAGE_SCOPES.rules, <RulesPage />)} />
        <Route path="teams" element={section("teams", PAGE_SCOPES.teams, <TeamsPage />)} />
        <Route path="sensors" element={section("sensors", PAGE_SCOPES.sensors, <SensorsPage />)} />
        <Route path="users" element={guarded(PAGE_SCOPES.users, <UsersPage />)} />
        <Route path="roles" element={guarded(PAGE_SCOPES.roles, <RolesPage />)} />
        <Route path="api-keys" element={guarded(PAGE_SCOPES.apikeys, <ApiKeysPage />)} />
        <Route path="audit" element={guarded(PAGE_SCOPES.audit, <AuditPage />)} />
        <Route path="license" element={guarded(PAGE_SCOPES.license, <LicensePage />)} />
        <Route path="profile" element={<ProfilePage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
