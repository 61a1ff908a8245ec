/// The status page at `/`: one small HTML document with its CSS and script inline (a gateway is
/// often offline: no external assets). It polls `/status` and `/status/history` every 2 s and
/// runs no commands. With `admin.token_file`, open it as `/?token=…`: the script sends the token.
enum StatusPage {
    static let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>weir status</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}
        header{padding:12px 16px;background:#1f2933;color:#fff;display:flex;flex-wrap:wrap;gap:8px 16px;align-items:baseline}
        header h1{font-size:18px;margin:0}
        .ok{color:#1a7f37}.bad{color:#c62828}
        header .ok,header .bad{background:#fff;border-radius:4px;padding:1px 6px;font-weight:600}
        main{display:flex;flex-wrap:wrap;gap:12px;padding:12px}
        section{background:#fff;border-radius:6px;padding:10px 12px;flex:1 1 320px;box-shadow:0 1px 2px #0002}
        h2{font-size:15px;margin:0 0 6px}
        table{border-collapse:collapse;width:100%}td{padding:2px 4px;border-top:1px solid #eee;vertical-align:middle}
        td.n{text-align:right;font-variant-numeric:tabular-nums}
        svg{width:120px;height:24px}polyline{fill:none;stroke:#3366cc;stroke-width:1.5}
        #errors li{font-family:monospace;font-size:12px;margin-bottom:4px;word-break:break-word}
        </style></head><body>
        <header><h1>weir</h1><span id="health">…</span><span id="version"></span><span id="uptime"></span></header>
        <main>
        <section><h2>Broker and store</h2><div id="broker"></div><div id="store"></div><div id="deadletters"></div>
        <div id="functions"></div><div id="reload"></div></section>
        <section><h2>Busiest rules (matches per 10 s, last 10 min)</h2><table id="rules"></table></section>
        <section><h2>Upstreams (queued rows, last 10 min)</h2><table id="upstreams"></table></section>
        <section><h2>Recent warnings and errors</h2><ol id="errors"></ol></section>
        </main>
        <script>
        const token = new URLSearchParams(location.search).get("token");
        const opts = token ? {headers: {Authorization: "Bearer " + token}} : {};
        const el = id => document.getElementById(id);
        function text(node, value) { node.textContent = value; return node; }
        function spark(values) {
          const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
          svg.setAttribute("viewBox", "0 0 120 24");
          const max = Math.max(1, ...values);
          const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
          line.setAttribute("points", values.map((v, i) => (i * 120 / 59).toFixed(1) + "," + (22 - v * 20 / max).toFixed(1)).join(" "));
          svg.appendChild(line);
          return svg;
        }
        function row(table, key, cells) {
          const tr = document.createElement("tr");
          tr.dataset.key = key;
          for (const c of cells) { const td = document.createElement("td"); if (c instanceof Node) td.appendChild(c); else text(td, c);
            if (typeof c === "number") td.className = "n"; tr.appendChild(td); }
          table.appendChild(tr);
        }
        async function refresh() {
          try {
            const [s, h] = await Promise.all([
              fetch("status", opts).then(r => r.json()), fetch("status/history", opts).then(r => r.json())]);
            const health = el("health");
            text(health, s.healthy ? "healthy" : "degraded").className = s.healthy ? "ok" : "bad";
            text(el("version"), "v" + s.version + " · " + s.gateway_id);
            text(el("uptime"), "up " + s.uptime_seconds + " s · " + s.events_in + " events in");
            text(el("broker"), "broker " + s.broker.address + ": " + (s.broker.connected ? "connected" : "NOT CONNECTED"));
            text(el("store"),
              "store: " + (s.store.writable ? "writable" : "NOT WRITABLE: " + s.store.problem) + ", " + s.store.bytes + " bytes");
            text(el("deadletters"), "dead letters: " + s.dead_letters);
            text(el("functions"), "functions: " + s.functions.in_flight + " running, " + s.functions.failures + " failures");
            const r = s.rules.last_reload;
            text(el("reload"),
              s.rules.loaded + " rules; " + (r ? "last reload " + (r.ok ? "ok" : "REJECTED: " + r.first_error) : "no reload"));
            const rules = el("rules"); rules.replaceChildren();
            const rates = new Map((s.rules.activity.rules || []).map(a => [a.rule, a]));
            for (const series of h.rules) {
              const a = rates.get(series.rule) || {};
              row(rules, series.rule, [series.rule, series.matched.reduce((x, y) => x + y, 0), spark(series.matched),
                (a.errors ? a.errors + " errors" : "")]);
            }
            const ups = el("upstreams"); ups.replaceChildren();
            for (const u of s.upstreams) {
              const d = (h.outboxes.find(o => o.upstream === u.name) || {depth: []}).depth;
              row(ups, u.name, [u.name + (u.connected ? "" : " (down)"), u.depth, spark(d)]);
            }
            const errors = el("errors"); errors.replaceChildren();
            for (const e of h.errors) {
              const li = document.createElement("li"); text(li, e.at + " " + e.level + " " + e.message); errors.appendChild(li);
            }
          } catch (e) { text(el("health"), "no answer").className = "bad"; }
        }
        refresh(); setInterval(refresh, 2000);
        </script></body></html>

        """
}
