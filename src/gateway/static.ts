/**
 * The gateway's web page: files from one folder (dist/web by default), GET and HEAD only, with
 * headers that keep the page to itself. The page holds CHAP secrets in memory, so it may load
 * scripts only from the gateway (CSP) and may not be framed by another site.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, resolve, sep } from "node:path";

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * `connect-src 'self'` covers ws:// and wss:// to the page's own host and port (CSP Level 3),
 * which is all the page needs; `blob:` images are the hex viewer's and chart's exports.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

export function sendText(response: ServerResponse, status: number, text: string, type = "text/plain; charset=utf-8"): void {
  const body = Buffer.from(text, "utf8");
  response.writeHead(status, { ...SECURITY_HEADERS, "Content-Type": type, "Content-Length": body.length, "Cache-Control": "no-store" });
  response.end(response.req.method === "HEAD" ? undefined : body);
}

/**
 * Serves `request` from `root`; `/` is index.html. A path that leaves `root` (`..`, encoded or
 * not) is not found rather than refused, so the answer says nothing about the file system.
 */
export async function serveStatic(root: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.setHeader("Allow", "GET, HEAD");
    sendText(response, 405, "only GET and HEAD are served here\n");
    return;
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(request.url ?? "/", "http://gateway").pathname);
  } catch {
    sendText(response, 400, "malformed path\n");
    return;
  }
  if (path.endsWith("/")) path += "index.html";
  const base = resolve(root);
  const file = resolve(join(base, path));
  if (path.includes("\0") || (file !== base && !file.startsWith(base + sep))) {
    sendText(response, 404, "not found\n");
    return;
  }
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error("not a file");
    size = info.size;
  } catch {
    if (path === "/index.html") {
      // The usual cause on a fresh checkout: say how to fix it rather than a bare 404.
      sendText(response, 404, `the web page is not built (no ${file}): run "node scripts/build-web.mjs", or give --web DIR\n`);
    } else {
      sendText(response, 404, "not found\n");
    }
    return;
  }
  response.writeHead(200, {
    ...SECURITY_HEADERS,
    "Content-Type": TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
    "Content-Length": size,
    // The page is rebuilt in place during development: always revalidate.
    "Cache-Control": "no-cache",
  });
  if (request.method === "HEAD") {
    response.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on("error", () => response.destroy());
  stream.pipe(response);
}
