import "@testing-library/jest-dom/vitest";
import { configure } from "@testing-library/react";

// findBy*/waitFor give up after 5 s instead of 1 s: the suite runs beside the backend's
// database shards in make test, where a page's first render can take over a second. A
// wait still ends the moment its condition holds.
configure({ asyncUtilTimeout: 5_000 });
