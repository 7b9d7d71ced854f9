// The console's shared layout (RenderPage): one HTML page per view, the navigation a viewer's
// roles allow, a skip link and visible focus for keyboards, and a layout that reflows on a phone.
// Styles and the small client script are static files (CSP allows no inline script).
import type { ConsoleViewer, RenderPage } from "./console-env.ts";
import { h, raw, type Html } from "./html.ts";

export const CONSOLE_CSS_PATH = "/assets/console.css";
export const CONSOLE_JS_PATH = "/assets/console.js";

/** The Content-Security-Policy of every console page: scripts and styles from here only. */
// 'wasm-unsafe-eval' lets asciinema-player compile its terminal emulator (WebAssembly bundled in
// its script); it allows no JavaScript eval.
export const CONSOLE_CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const NAV: readonly { path: string; label: string; shown: (v: ConsoleViewer) => boolean }[] = [
  { path: "/approvals", label: "Approvals", shown: () => true },
  { path: "/sessions", label: "Sessions", shown: (v) => v.roles.has("view") },
  { path: "/audit", label: "Audit", shown: (v) => v.roles.has("view") },
  { path: "/policy", label: "Policy", shown: (v) => v.roles.has("view") || v.roles.has("approve") },
];

/** A whole page around an already escaped body; `current` is the path of the section shown. */
export function layout(viewer: ConsoleViewer | null, title: string, body: Html | string, current = ""): string {
  const who = viewer ? viewer.identity.name ?? viewer.identity.subject : null;
  const nav = viewer
    ? NAV.filter((n) => n.shown(viewer)).map((n) => h`<li><a href="${n.path}"${current.startsWith(n.path) ? raw(' aria-current="page"') : ""}>${n.label}</a></li>`)
    : [];
  const page = h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title} · Gatehouse</title>
<link rel="stylesheet" href="${CONSOLE_CSS_PATH}">
<script src="${CONSOLE_JS_PATH}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/">Gatehouse</a>
  ${viewer ? h`<nav aria-label="Console"><ul>${nav}</ul></nav>` : ""}
  ${
    viewer
      ? h`<form class="who" method="post" action="/logout"><span title="${viewer.identity.subject}">${who}</span><input type="hidden" name="_csrf" value="${viewer.csrf}"><button type="submit" class="link">Log out</button></form>`
      : ""
  }
</header>
<main id="main" tabindex="-1">
<h1>${title}</h1>
${typeof body === "string" ? raw(body) : body}
</main>
</body>
</html>`;
  return String(page);
}

/** RenderPage for the other pages' sub-apps (sessions, audit): their section is highlighted by title. */
export const renderPage: RenderPage = (viewer, title, body) => {
  const section = NAV.find((n) => title.toLowerCase().startsWith(n.label.toLowerCase()));
  return layout(viewer, title, body, section?.path ?? "");
};

export const CONSOLE_CSS = `
:root{--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--card:#f6f8fa;--accent:#0a58ca;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--focus:#fb8500}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#30363d;--card:#161b22;--accent:#4493f8;--ok:#3fb950;--bad:#f85149;--warn:#d29922}}
*{box-sizing:border-box}
html{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
body{margin:0}
a{color:var(--accent)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);padding:4px 8px;z-index:9}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.5rem;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
.brand{font-weight:700;text-decoration:none;color:var(--fg)}
.top nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}
.top nav a{text-decoration:none;padding:.2rem .1rem}
.top nav a[aria-current=page]{font-weight:700;border-bottom:2px solid var(--accent)}
.who{margin-left:auto;display:flex;gap:.5rem;align-items:center;color:var(--muted)}
main{padding:1rem;max-width:72rem;margin:0 auto}
h1{font-size:1.4rem;margin:.2rem 0 1rem}
h2{font-size:1.1rem;margin:1.2rem 0 .5rem}
.muted{color:var(--muted)}
#pending[data-linked] article:first-child{border:2px solid var(--accent)}
.card{border:1px solid var(--line);border-radius:8px;background:var(--card);padding:.8rem 1rem;margin:0 0 1rem}
.card header{display:flex;flex-wrap:wrap;gap:.3rem 1rem;align-items:baseline;justify-content:space-between}
.card h2{margin:0;font-size:1.05rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.6rem 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;min-width:0}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9rem}
pre.request{white-space:pre-wrap;word-break:break-word;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:.5rem .7rem;margin:0;max-height:16rem;overflow:auto}
.actions{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-end;margin-top:.6rem}
.actions form{display:flex;flex-wrap:wrap;gap:.4rem;align-items:flex-end}
label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted);gap:.15rem}
input,select,textarea,button{font:inherit;color:inherit}
input,select,textarea{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:.35rem .5rem;min-width:0}
button{cursor:pointer;border-radius:6px;border:1px solid var(--line);background:var(--bg);padding:.4rem .9rem;min-height:2.5rem}
a.button{display:inline-block;text-decoration:none;border-radius:6px;padding:.5rem 1rem;min-height:2.5rem}
a.button.approve{background:var(--ok);color:#fff;font-weight:600}
button.approve{background:var(--ok);border-color:var(--ok);color:#fff;font-weight:600}
button.deny{background:var(--bad);border-color:var(--bad);color:#fff;font-weight:600}
button.link{border:0;background:none;color:var(--accent);padding:0;min-height:0;text-decoration:underline}
.badge{display:inline-block;border-radius:999px;padding:0 .55rem;font-size:.8rem;border:1px solid var(--line)}
.badge.review{color:var(--warn);border-color:var(--warn)}.badge.allow{color:var(--ok);border-color:var(--ok)}.badge.deny{color:var(--bad);border-color:var(--bad)}
.notice{border-left:4px solid var(--accent);padding:.5rem .8rem;background:var(--card);margin:0 0 1rem}
.notice.error{border-color:var(--bad)}
#flash:empty{display:none}
.empty{color:var(--muted);font-style:italic}
.live{font-size:.85rem;color:var(--muted)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
td:first-child code{white-space:nowrap}
.scroll{overflow-x:auto}
.grant{font-size:.85rem;color:var(--muted);max-width:38rem}
@media (max-width:600px){dl.facts{grid-template-columns:1fr}dl.facts dt{margin-top:.3rem}.who{margin-left:0}main{padding:.7rem}}
`;

// The client script: live approvals (server-sent events carry HTML the server escaped), and the
// "waited"/"until" times kept current. Everything works without it, by reloading.
export const CONSOLE_JS = `
(function(){
  function ago(ms){var s=Math.max(0,Math.round(ms/1000));if(s<60)return s+"s";var m=Math.floor(s/60);if(m<60)return m+"m "+(s%60)+"s";var h=Math.floor(m/60);return h+"h "+(m%60)+"m";}
  function tick(){var now=Date.now();document.querySelectorAll("[data-since]").forEach(function(e){e.textContent=ago(now-Number(e.getAttribute("data-since")));});
    document.querySelectorAll("[data-until]").forEach(function(e){var left=Number(e.getAttribute("data-until"))-now;e.textContent=left>0?"in "+ago(left):"now";});}
  function frag(html){var t=document.createElement("template");t.innerHTML=html;return t.content;}
  function empty(list){var none=document.getElementById("none");if(none)none.hidden=list.querySelector("article")!==null;}
  function live(){var list=document.getElementById("pending");if(!list||!window.EventSource)return;
    var status=document.getElementById("live");
    var es=new EventSource(list.getAttribute("data-events"));
    es.addEventListener("open",function(){if(status)status.textContent="Live: new requests appear here as they arrive.";});
    es.addEventListener("error",function(){if(status)status.textContent="Reconnecting…";});
    es.addEventListener("snapshot",function(ev){var d=JSON.parse(ev.data);var focused=document.activeElement&&list.contains(document.activeElement);
      list.querySelectorAll("article").forEach(function(a){if(d.ids.indexOf(a.id)<0)a.remove();});
      d.cards.forEach(function(c){var old=document.getElementById(c.id);if(!old)list.appendChild(frag(c.html));});empty(list);tick();});
    es.addEventListener("upsert",function(ev){var d=JSON.parse(ev.data);var old=document.getElementById(d.id);
      if(old){if(!old.contains(document.activeElement))old.replaceWith(frag(d.html));}
      else{list.appendChild(frag(d.html));var h=document.getElementById(d.id+"-t");if(status&&h)status.textContent="New request: "+h.textContent.replace(/\s+/g," ").trim();}
      empty(list);tick();});
    es.addEventListener("remove",function(ev){var d=JSON.parse(ev.data);var old=document.getElementById(d.id);if(old)old.remove();empty(list);});
  }
  // Decide without leaving the page: the form is posted here (with its CSRF token) and the answer
  // shown in place; the card goes when the server says the request is settled (the live stream).
  function decide(){var list=document.getElementById("pending");if(!list||!window.fetch)return;
    list.addEventListener("submit",function(ev){var f=ev.target;if(!(f instanceof HTMLFormElement)||f.method!=="post")return;ev.preventDefault();
      var flash=document.getElementById("flash");var buttons=f.querySelectorAll("button");buttons.forEach(function(b){b.disabled=true;});
      fetch(f.action,{method:"POST",body:new URLSearchParams(new FormData(f)),headers:{accept:"application/json"},credentials:"same-origin"})
        .then(function(r){return r.json().then(function(d){return {ok:r.ok,d:d};});})
        .then(function(x){if(flash){flash.className=x.ok?"notice":"notice error";flash.textContent=x.d.message||"";}
          if(!x.ok)buttons.forEach(function(b){b.disabled=false;});})
        .catch(function(e){if(flash){flash.className="notice error";flash.textContent="The decision could not be sent: "+e;}buttons.forEach(function(b){b.disabled=false;});});
    });}
  document.addEventListener("DOMContentLoaded",function(){tick();setInterval(tick,1000);live();decide();});
})();
`;
