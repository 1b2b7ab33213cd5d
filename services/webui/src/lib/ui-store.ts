import { create } from "zustand";

/** Client-only UI state: which sidebar categories are folded, whether the phone menu is open. */
interface UiState {
  collapsed: Record<string, boolean>;
  mobileNavOpen: boolean;
  toggleCategory: (id: string) => void;
  setMobileNav: (open: boolean) => void;
}

export const useUiStore = create<UiState>((set) => ({
  collapsed: {},
  mobileNavOpen: false,
  toggleCategory: (id) => set((s) => ({ collapsed: { ...s.collapsed, [id]: !s.collapsed[id] } })),
  setMobileNav: (open) => set({ mobileNavOpen: open }),
}));
