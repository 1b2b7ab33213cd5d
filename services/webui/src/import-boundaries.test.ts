// @vitest-environment node
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";

/**
 * The import boundaries of eslint.config.js, through ESLint's own Node API: synthetic files
 * placed in the real tree (nothing is written) import real modules, and the boundaries rule
 * must refuse a feature reaching into another feature, or lib/ and components/ reaching into
 * any feature, while letting the allowed imports through.
 */
const webui = fileURLToPath(new URL("..", import.meta.url));
const eslint = new ESLint({ cwd: webui });

async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  // Anything else (a parse error, a missing rule) would make the boundary checks meaningless.
  const other = result.messages.filter((m) => m.ruleId !== "boundaries/dependencies");
  expect(other).toEqual([]);
  return result.messages.map((m) => m.message);
}

const use = (names: string) => `\nexport const probe = [${names}];\n`;

describe("import boundaries (eslint-plugin-boundaries)", { timeout: 120_000 }, () => {
  it("refuses a feature importing another feature", async () => {
    const errors = await boundaryErrors(
      "src/features/rules/boundary-probe.ts",
      `import { useUsers } from "../users/api";${use("useUsers")}`,
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^Import boundary: a feature may import only src\/lib, src\/components and its own folder/);
  });

  it("refuses it through a re-export and a lazy import() too", async () => {
    const errors = await boundaryErrors(
      "src/features/rules/boundary-probe.ts",
      `export { useUsers } from "../users/api";\nexport const page = () => import("../audit/AuditPage");\n`,
    );
    expect(errors).toHaveLength(2);
  });

  it("refuses lib/ and components/ importing a feature", async () => {
    expect(await boundaryErrors("src/lib/boundary-probe.ts", `import { login } from "../features/auth/api";${use("login")}`))
      .toHaveLength(1);
    expect(await boundaryErrors("src/components/boundary-probe.ts", `import { useRules } from "../features/rules/api";${use("useRules")}`))
      .toHaveLength(1);
  });

  it("lets a feature import lib/, components/ and its own folder", async () => {
    const code =
      `import { api } from "../../lib/api-client";\n` +
      `import { Alert } from "../../components/Alert";\n` +
      `import { useRules } from "./api";${use("api, Alert, useRules")}`;
    expect(await boundaryErrors("src/features/rules/boundary-probe.ts", code)).toEqual([]);
  });

  it("lets the app shell put the features together", async () => {
    expect(await boundaryErrors("src/boundary-probe.ts", `import { useRules } from "./features/rules/api";${use("useRules")}`))
      .toEqual([]);
  });
});
