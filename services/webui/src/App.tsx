import { lazy, type ReactNode } from "react";
import { Navigate, Route, Routes } from "react-router";
import { Layout } from "./components/Layout";
import { NotFound } from "./components/Forbidden";
import { RequireAuth, RequireScope } from "./features/auth/guards";
import { LoginPage } from "./features/auth/LoginPage";
import { ForgotPasswordPage } from "./features/auth/ForgotPasswordPage";
import { ResetPasswordPage } from "./features/auth/ResetPasswordPage";
import { hasScope, useAuthStore } from "./lib/auth-store";
import { PAGE_SCOPES } from "./lib/permissions";

// Every page behind the login is its own chunk: the login screen loads only what it needs.
const DashboardPage = lazy(() => import("./features/dashboard/DashboardPage"));
const RulesPage = lazy(() => import("./features/rules/RulesPage"));
const UsersPage = lazy(() => import("./features/users/UsersPage"));
const RolesPage = lazy(() => import("./features/roles/RolesPage"));
const ApiKeysPage = lazy(() => import("./features/api-keys/ApiKeysPage"));
const AuditPage = lazy(() => import("./features/audit/AuditPage"));
const LicensePage = lazy(() => import("./features/license/LicensePage"));
const ProfilePage = lazy(() => import("./features/profile/ProfilePage"));

/** "/" goes to the first page the user may see. */
function Home() {
  const user = useAuthStore((s) => s.user);
  if (hasScope(user, PAGE_SCOPES.dashboard)) return <Navigate to="/dashboard" replace />;
  if (hasScope(user, PAGE_SCOPES.rules)) return <Navigate to="/rules" replace />;
  return <Navigate to="/profile" replace />;
}

const guarded = (scope: string, page: ReactNode) => <RequireScope scope={scope}>{page}</RequireScope>;

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
        <Route path="dashboard" element={guarded(PAGE_SCOPES.dashboard, <DashboardPage />)} />
        <Route path="rules" element={guarded(PAGE_SCOPES.rules, <RulesPage />)} />
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
