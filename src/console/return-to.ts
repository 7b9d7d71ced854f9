// Where a login returns to: only ever a path on this console, never another site (an open
// redirect would let a phishing link bounce through the real login to a look-alike page).

/** `wanted` when it is a local path ("/approvals?x=1"), else "/". */
export function safeReturnTo(wanted: string | undefined | null): string {
  if (typeof wanted !== "string" || wanted.length === 0 || wanted.length > 2048) return "/";
  // "//evil.example" and "/\evil.example" are read by browsers as another host; control
  // characters and backslashes have no place in our paths.
  if (!wanted.startsWith("/") || wanted.startsWith("//") || /[\\\u0000-\u001f\u007f]/.test(wanted)) return "/";
  let url: URL;
  try {
    url = new URL(wanted, "http://console.invalid");
  } catch {
    return "/";
  }
  if (url.origin !== "http://console.invalid") return "/";
  // The login pages themselves are no place to return to (a loop).
  if (url.pathname.startsWith("/login") || url.pathname === "/logout") return "/";
  // Dot segments are resolved by the URL parser: "/.//evil.example" and "/%2e//evil.example"
  // come out as "//evil.example", another host again. What is returned is what must be local.
  const local = `${url.pathname}${url.search}`;
  return local.startsWith("//") ? "/" : local;
}
