import { Suspense, useEffect, useRef, type ComponentType } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import {
  Activity, BadgeCheck, ChevronDown, FileClock, KeyRound, ListChecks, LogOut, Menu, Radar, Shield, UserCircle, Users, UsersRound, X,
} from "lucide-react";
import { Logo } from "./Logo";
import { Loading } from "./Loading";
import { ErrorBoundary } from "./ErrorBoundary";
import { DeploymentBanner } from "./DeploymentBanner";
import { LicenseBanner } from "./LicenseBanner";
import { Toaster } from "./Toast";
import { hasScope, useAuthStore } from "../lib/auth-store";
import { useUiStore } from "../lib/ui-store";
import { PAGE_SCOPES } from "../lib/permissions";
import { useLogout } from "../lib/use-logout";
import { useAllSectionAccess, type ResourcePage } from "../lib/tenancy";

interface NavItem {
  to: string;
  label: string;
  icon: ComponentType<{ className?: string; "aria-hidden"?: boolean }>;
  scope: string;
  /** Also shown when a team role or a grant opens the section (lib/tenancy.ts). */
  section?: ResourcePage;
}

interface NavCategory {
  id: string;
  label: string;
  admin?: boolean;
  items: NavItem[];
}

// One accent everywhere: the active item is gold whatever its category.
const ACTIVE = "bg-amber-400 text-slate-950";
const IDLE = "text-amber-100 hover:bg-slate-800 hover:text-amber-50";

const NAV: NavCategory[] = [
  { id: "monitor", label: "Monitor", items: [{ to: "/dashboard", label: "Dashboard", icon: Activity, scope: PAGE_SCOPES.dashboard, section: "dashboard" }] },
  {
    id: "filter",
    label: "Packet filter",
    items: [
      { to: "/rules", label: "Rules", icon: ListChecks, scope: PAGE_SCOPES.rules, section: "rules" },
      { to: "/sensors", label: "Sensors", icon: Radar, scope: PAGE_SCOPES.sensors, section: "sensors" },
    ],
  },
  {
    id: "access",
    label: "Access",
    items: [
      { to: "/teams", label: "Teams", icon: UsersRound, scope: PAGE_SCOPES.teams, section: "teams" },
      { to: "/api-keys", label: "API keys", icon: KeyRound, scope: PAGE_SCOPES.apikeys },
    ],
  },
  {
    id: "admin",
    label: "Administration",
    admin: true,
    items: [
      { to: "/users", label: "Users", icon: Users, scope: PAGE_SCOPES.users },
      { to: "/roles", label: "Roles", icon: Shield, scope: PAGE_SCOPES.roles },
      { to: "/audit", label: "Audit log", icon: FileClock, scope: PAGE_SCOPES.audit },
      { to: "/license", label: "Licence", icon: BadgeCheck, scope: PAGE_SCOPES.license },
    ],
  },
];

function Sidebar() {
  const user = useAuthStore((s) => s.user);
  const { collapsed, toggleCategory, setMobileNav, mobileNavOpen } = useUiStore();
  const logout = useLogout();
  const closeButton = useRef<HTMLButtonElement>(null);
  // The phone menu takes focus when it opens, so Esc and Tab work from the first key press.
  useEffect(() => {
    if (mobileNavOpen) closeButton.current?.focus();
  }, [mobileNavOpen]);
  const access = useAllSectionAccess();
  const visible = (i: NavItem) => hasScope(user, i.scope) || (!!i.section && access[i.section] === "yes");
  const categories = NAV.map((c) => ({ ...c, items: c.items.filter(visible) })).filter(
    (c) => c.items.length > 0,
  );
  return (
    <aside
      id="sidebar"
      className={`fixed inset-y-0 left-0 z-30 flex w-64 flex-col border-r border-slate-800 bg-slate-900 ${
        mobileNavOpen ? "flex" : "hidden"
      } md:flex`}
    >
      <div className="flex items-center gap-2 border-b border-slate-800 px-4 py-3">
        <Logo size={36} title="Rookery logo" />
        <span className="text-lg font-semibold text-amber-300">Rookery</span>
        <button ref={closeButton} type="button" className="btn-icon ml-auto md:hidden" aria-label="Close menu" onClick={() => setMobileNav(false)}>
          <X aria-hidden className="h-4 w-4" />
        </button>
      </div>
      <nav aria-label="Main" className="flex-1 overflow-y-auto px-2 py-3">
        {categories.map((cat) => {
          const open = !collapsed[cat.id];
          const listId = `nav-${cat.id}`;
          return (
            <div key={cat.id} className={`mb-2 ${cat.admin ? "border-l-2 border-amber-400 pl-1" : ""}`}>
              <button
                type="button"
                aria-expanded={open}
                aria-controls={listId}
                onClick={() => toggleCategory(cat.id)}
                className={`flex w-full items-center justify-between rounded px-2 py-1.5 text-xs font-semibold uppercase tracking-wide ${
                  cat.admin ? "text-amber-300" : "text-amber-200"
                } hover:text-amber-50`}
              >
                {cat.label}
                <ChevronDown aria-hidden className={`h-4 w-4 transition-transform ${open ? "" : "-rotate-90"}`} />
              </button>
              {open && (
                <ul id={listId} className="mt-1 space-y-0.5">
                  {cat.items.map((item) => (
                    <li key={item.to}>
                      <NavLink
                        to={item.to}
                        onClick={() => setMobileNav(false)}
                        className={({ isActive }) =>
                          `flex items-center gap-2 rounded-md px-3 py-2 text-sm no-underline hover:no-underline ${
                            isActive ? ACTIVE : IDLE
                          }`
                        }
                      >
                        <item.icon aria-hidden className="h-4 w-4" />
                        {item.label}
                      </NavLink>
                    </li>
                  ))}
                </ul>
              )}
            </div>
          );
        })}
      </nav>
      <div className="border-t border-slate-800 p-3" aria-label="Your account" role="group">
        <p className="mb-2 truncate px-1 text-sm text-amber-200" title={user?.email}>
          {user?.email}
        </p>
        <NavLink
          to="/profile"
          onClick={() => setMobileNav(false)}
          className={({ isActive }) =>
            `mb-1 flex items-center gap-2 rounded-md px-3 py-2 text-sm no-underline hover:no-underline ${
              isActive ? ACTIVE : IDLE
            }`
          }
        >
          <UserCircle aria-hidden className="h-4 w-4" /> Profile
        </NavLink>
        <button type="button" onClick={logout} className={`flex w-full items-center gap-2 rounded-md px-3 py-2 text-sm ${IDLE}`}>
          <LogOut aria-hidden className="h-4 w-4" /> Log out
        </button>
      </div>
    </aside>
  );
}

export function Layout() {
  const setMobileNav = useUiStore((s) => s.setMobileNav);
  const mobileNavOpen = useUiStore((s) => s.mobileNavOpen);
  const menuButton = useRef<HTMLButtonElement>(null);
  // The phone menu closes on Esc (focus back on the button that opened it) and on a tap
  // on the backdrop; navigating closes it too.
  useEffect(() => {
    if (!mobileNavOpen) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        setMobileNav(false);
        menuButton.current?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [mobileNavOpen, setMobileNav]);
  const { pathname } = useLocation();
  const main = useRef<HTMLElement>(null);
  const firstRender = useRef(true);
  // After client-side navigation, move focus to the new page so screen readers announce it
  // and keyboard users start at its top (not on the first load: the browser handles that).
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    main.current?.focus({ preventScroll: false });
  }, [pathname]);
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-amber-400 focus:px-3 focus:py-2 focus:text-slate-950">
        Skip to content
      </a>
      {mobileNavOpen && (
        <div data-testid="menu-backdrop" aria-hidden className="fixed inset-0 z-[25] bg-slate-950/75 md:hidden" onClick={() => setMobileNav(false)} />
      )}
      <Sidebar />
      <div className="md:pl-64">
        <header className="sticky top-0 z-20 flex items-center gap-2 border-b border-slate-800 bg-slate-900 px-3 py-2 md:hidden">
          <button ref={menuButton} type="button" className="btn-icon" aria-label="Open menu" aria-controls="sidebar" aria-expanded={mobileNavOpen} onClick={() => setMobileNav(true)}>
            <Menu aria-hidden className="h-5 w-5" />
          </button>
          <Logo size={28} title="Rookery logo" />
          <span className="font-semibold text-amber-300">Rookery</span>
        </header>
        <LicenseBanner />
        <DeploymentBanner />
        <main id="main" ref={main} tabIndex={-1} className="mx-auto max-w-7xl p-4 outline-none md:p-6">
          <ErrorBoundary resetKey={pathname}>
            <Suspense fallback={<Loading />}>
              <Outlet />
            </Suspense>
          </ErrorBoundary>
        </main>
      </div>
      <Toaster />
    </div>
  );
}
