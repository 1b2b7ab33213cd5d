import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, type Envelope } from "../../lib/api-client";
import type { components } from "../../lib/api-schema.gen";
import { LICENSE_QUERY_KEY, type LicenseStatus } from "../../lib/license";

/** PUT /license. */
type LicenseInput = components["schemas"]["LicenseIn"];

export { useLicenseStatus, type LicenseStatus } from "../../lib/license";

/** PUT /license: the backend checks the text (signature, product, dates) and installs it without a restart. */
export async function installLicense(text: string): Promise<LicenseStatus> {
  const res = await api.put<Envelope<LicenseStatus>>("/license", { license: text } satisfies LicenseInput);
  return res.data.data;
}

/** Installs a licence; the answer is the new state, so the page and the banner show it at once. */
export function useInstallLicense() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: installLicense,
    onSuccess: (state) => {
      if (state?.status) qc.setQueryData(LICENSE_QUERY_KEY, state);
      void qc.invalidateQueries({ queryKey: LICENSE_QUERY_KEY });
    },
  });
}
