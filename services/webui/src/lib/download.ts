import { api } from "./api-client";

/**
 * Fetches a file from the API with the session's bearer token (a plain link would carry
 * none) and hands it to the browser as a download, named as the server's
 * Content-Disposition says (or `fallbackName`).
 */
export async function downloadFromApi(url: string, params: Record<string, string>, fallbackName: string): Promise<void> {
  const res = await api.get<Blob>(url, { params, responseType: "blob" });
  const disposition = String(res.headers["content-disposition"] ?? "");
  saveFile(res.data, disposition.match(/filename="([^"]+)"/)?.[1] ?? fallbackName);
}

/** Offers `data` as a file download (nothing happens outside a browser). */
export function saveFile(data: Blob | string, name: string): void {
  if (typeof URL.createObjectURL !== "function") return;
  const url = URL.createObjectURL(data instanceof Blob ? data : new Blob([data]));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
