// chemrnn's local web page: plain ES module, no framework, everything served by `chemrnn serve`.
const $ = (sel) => document.querySelector(sel);
const state = { info: null, predict: null, genJob: null, polling: null, curve: null, watch: null, cancelling: new Set() };

// ------------------------------------------------------------------------------------------ helpers
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "style") e.style.cssText = v;  // through the CSSOM: the page's policy refuses style attributes
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
const svgEl = (tag, attrs = {}) => {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

function showMessage(text, kind = "error") {
  const m = $("#message");
  if (!text) { m.hidden = true; m.textContent = ""; return; }
  m.textContent = text; m.className = kind === "info" ? "info" : ""; m.hidden = false;
}

async function call(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  let r;
  try { r = await fetch(path, opts); } catch (e) {
    throw Object.assign(new Error("the server cannot be reached: is chemrnn serve running?"), { unreachable: true }); }
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) throw Object.assign(new Error((data && data.error) || `the server answered ${r.status}`), { status: r.status });
  return data;
}

const depictUrl = (smiles, w = 220, h = 160) => `/api/depict.svg?w=${w}&h=${h}&smiles=${encodeURIComponent(smiles)}`;
const pct = (x) => (100 * x).toFixed(1) + " %";  // a figure to read
// a predicted or RDKit value as the table shows it: both to 2 decimals (the full figure in the cell's title and CSV)
const shown = (v) => (v === "" || v === undefined || v === null ? "" : Number(v).toFixed(2));
const barWidth = (x) => (100 * Math.min(1, Math.max(0, x || 0))).toFixed(1) + "%";  // a CSS width: no space

function busy(button, on, label) {
  if (on) { button.dataset.label = button.textContent; button.textContent = label || "working…"; }
  else if (button.dataset.label) button.textContent = button.dataset.label;
  button.disabled = on;
}

// ------------------------------------------------------------------------------------------ tabs
function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== "tab-" + name;
  if (name === "runs") { refreshRuns(); pollJobs(); }  // jobs started since (a Generate) are listed too
  history.replaceState(null, "", "#" + name);
}

// ------------------------------------------------------------------------------------------ predict
const EXAMPLES = ["CC(=O)Oc1ccccc1C(=O)O aspirin", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C caffeine",
                  "CC(C)Cc1ccc(cc1)C(C)C(=O)O ibuprofen", "C1=CC=CC=C1[Se]C selenoanisole", "C1CC(=O broken"];

async function predict() {
  showMessage("");
  const btn = $("#predict-btn");
  busy(btn, true, "predicting…");
  try {
    const res = await call("/api/predict", { smiles: $("#smiles-input").value,
                                             largest_fragment: $("#largest-fragment").checked });
    state.predict = res;
    renderPredictions(res);
  } catch (e) {
    clearPredictions();  // an error is never shown above the results of an earlier request
    showMessage(e.message);
  } finally { busy(btn, false); }
}

function clearPredictions() {
  state.predict = null;
  $("#predict-table tbody").replaceChildren();
  $("#predict-table").hidden = true;
  $("#predict-summary").textContent = "";
  $("#predict-csv").hidden = true;
}

function renderPredictions(res) {
  const tbody = $("#predict-table tbody");
  tbody.replaceChildren();
  for (const r of res.rows) {
    const note = r.error ? (r.unseen_tokens ? "⚠ " + r.error : "✗ " + r.error) : (r.warning ? "⚠ " + r.warning : "");
    const cls = r.error ? (r.unseen_tokens ? "row-unseen" : "row-error") : (r.warning ? "row-warning" : "row-ok");
    const pic = r.canonical ? el("img", { src: depictUrl(r.canonical, 160, 110), alt: r.canonical, width: 160,
                                          height: 110, loading: "lazy" })
                            : el("span", { class: "dim", text: "not understood" });
    tbody.append(el("tr", { class: cls, "data-line": r.line, "data-smiles": r.smiles },
      el("td", { class: "num", text: r.line }), el("td", {}, pic),
      el("td", { class: "smiles", text: r.smiles, title: r.canonical ? "canonical: " + r.canonical : "" }),
      el("td", { text: r.name }),
      ...["logP", "TPSA"].flatMap((t) => ["model", "rdkit"].map((by) => el("td", {
        class: `num ${t}-${by}`, text: shown(r[by][t]), title: r[by][t] ? `${t} ${r[by][t]}` : null }))),
      el("td", { class: "note", text: note })));
  }
  $("#predict-table").hidden = false;
  $("#predict-summary").textContent = res.summary;
  const link = $("#predict-csv");
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([res.csv], { type: "text/csv" }));
  link.hidden = false;
}

// the molecule editor (OpenChemLib JS, bundled), loaded the first time it is opened
let editor = null, OCL = null;
async function toggleEditor() {
  const box = $("#editor-box");
  box.hidden = !box.hidden;
  if (box.hidden || editor) return;
  try {
    OCL = await import("/static/vendor/openchemlib.js");
    editor = new OCL.CanvasEditor($("#editor"), { initialMode: "molecule" });
    editor.setOnChangeListener(() => { $("#editor-smiles").textContent = editorSmiles(); });
    window.chemrnnEditor = { editor, OCL, smiles: editorSmiles,
                             set: (s) => { editor.setMolecule(OCL.Molecule.fromSmiles(s)); } };
  } catch (e) {
    showMessage("the molecule editor could not be loaded: " + e.message);
  }
}
function editorSmiles() {
  if (!editor) return "";
  const m = editor.getMolecule();
  return m.getAllAtoms() ? m.toIsomericSmiles() : "";
}
function useDrawing() {
  const s = editorSmiles();
  if (!s) { showMessage("the editor is empty: draw a molecule first"); return; }
  const ta = $("#smiles-input");
  ta.value = (ta.value.trim() ? ta.value.replace(/\s*$/, "\n") : "") + s + " drawn";
  predict();
}

// ------------------------------------------------------------------------------------------ generate
function fillModels() {
  for (const id of ["#gen-model", "#watch-model", "#ft-prior"]) {
    const sel = $(id), keep = sel.value;
    sel.replaceChildren(...state.info.models.map((m) => el("option", { value: m.key, text: m.label })));
    if (keep && state.info.models.some((m) => m.key === keep)) sel.value = keep;
    else if (id === "#ft-prior" && state.info.models.some((m) => m.key === "chembl")) sel.value = "chembl";
  }
}

async function generate(again) {
  showMessage("");
  const btn = $("#gen-btn");
  btn.disabled = true;
  try {
    const params = again && !(again instanceof Event) ? again
      : { model: $("#gen-model").value, n: Number($("#gen-n").value), temperature: Number($("#gen-temp").value),
          seed: Number($("#gen-seed").value) };
    const job = await call("/api/generate", params);
    genLost(null);
    state.genJob = job.id;
    localStorage.setItem("chemrnn.genJob", job.id);
    localStorage.setItem("chemrnn.genParams", JSON.stringify(params));  // to run it again if it is lost
    $("#gen-results").hidden = true;
    followGeneration();
  } catch (e) { $("#gen-results").hidden = true; showMessage(e.message); btn.disabled = false; }
}

async function followGeneration() {
  const id = state.genJob;
  if (!id) return;
  const box = $("#gen-progress");
  box.hidden = false;
  let job;
  try { job = await call(`/api/jobs/${id}`); } catch (e) {
    if (id !== state.genJob) return;
    if (e.unreachable) {  // stopped or restarting: followed again when it answers
      genLost("sampling: the server cannot be reached (stopped or restarting?); the job is lost unless the server " +
              "comes back with it", true);
      setTimeout(followGeneration, 2000);
      return;
    }
    genLost(`sampling lost: the server no longer knows the job (it was restarted): ${e.message}`);
    return;
  }
  if (id !== state.genJob) return;
  genLost(null);
  if (job.state === "interrupted") { genLost(`sampling lost: ${job.message} (the server was stopped or restarted)`); return; }
  box.querySelector(".bar > div").style.width = barWidth(job.progress);
  box.querySelector(".msg").textContent = job.message;
  if (job.state === "queued" || job.state === "running") { setTimeout(followGeneration, 400); return; }
  $("#gen-btn").disabled = false;
  box.hidden = true;
  if (job.state !== "finished") {
    $("#gen-results").hidden = true;
    showMessage(`sampling ${job.state}: ${job.error || job.message}`);
    return;
  }
  renderGeneration(job);
}

// a sampling job the server lost (stopped, restarted, unreachable): said so, with a button to run it again
function genLost(text, following = false) {
  const box = $("#gen-lost");
  if (!text) { box.hidden = true; return; }
  $("#gen-progress").hidden = true;
  $("#gen-btn").disabled = false;
  box.querySelector(".msg").textContent = text;
  box.hidden = false;
  if (!following) { state.genJob = null; localStorage.removeItem("chemrnn.genJob"); }
}

function generateAgain() {
  let params = null;
  try { params = JSON.parse(localStorage.getItem("chemrnn.genParams")); } catch (e) { params = null; }
  if (!params) { genLost(null); generate(); return; }
  const fields = { "#gen-model": params.model, "#gen-n": params.n, "#gen-temp": params.temperature, "#gen-seed": params.seed };
  for (const [sel, v] of Object.entries(fields)) if (v !== undefined && v !== null) $(sel).value = v;
  generate(params);
}

function renderGeneration(job) {
  const res = job.result, m = res.metrics;
  const metric = (name, value, detail, label = name) => el("div", { class: "metric", "data-metric": name },
    el("span", { class: "dim", text: label }), el("b", { text: value }), el("span", { class: "dim", text: detail }));
  $("#gen-metrics").replaceChildren(
    metric("validity", pct(m.validity), `${m.valid} of ${res.n}`),
    metric("uniqueness", pct(m.uniqueness), `${m.unique} unique valid`),
    m.novelty === null
      ? metric("novelty", "—", "training data not found", "novelty vs the training data")
      : metric("novelty", pct(m.novelty), `${m.novel} novel`, "novelty vs the training data"));
  $("#gen-novelty-note").textContent = `${job.title}; ` +
    (m.novelty === null ? `${res.novelty_missing}; ` : `novelty against ${res.novelty_against}; `) +
    `${m.unfinished} unfinished at the length limit; ${job.seconds} s.`;
  state.genHist = res.histograms;
  drawHistogram();
  $("#gen-csv").href = `/api/jobs/${job.id}/csv`;
  state.genValid = [...new Set(res.molecules.filter((x) => x.valid).map((x) => x.canonical))];
  const grid = $("#gen-grid");
  grid.replaceChildren(...res.molecules.map((mol, k) => mol.valid
    ? el("div", { class: "mol-cell" + (mol.duplicate ? " dup" : ""), title: `${mol.canonical}\n(click: watch the RNN read it)`,
                  onclick: () => { $("#watch-smiles").value = mol.smiles; showTab("watch"); watchRnn(); } },
        el("img", { src: depictUrl(mol.canonical, 200, 140), alt: mol.canonical, loading: "lazy" }),
        el("div", { class: "smi", text: `${k + 1}. ${mol.canonical}${mol.duplicate ? " (repeat)" : ""}` +
                                        (mol.novel === false ? " (in training data)" : "") }))
    : el("div", { class: "mol-cell invalid", title: mol.smiles },
        el("div", { class: "bad", text: "invalid SMILES" }), el("div", { class: "smi", text: `${k + 1}. ${mol.smiles}` }))));
  $("#gen-results").hidden = false;
}

function drawHistogram() {
  const prop = $("#gen-hist-prop").value, h = state.genHist && state.genHist[prop];
  const box = $("#gen-hist");
  box.replaceChildren();
  if (!h || !h.counts.length) { box.textContent = "no valid molecule"; return; }
  const W = 460, H = 210, L = 52, B = 34, max = Math.max(...h.counts);
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  const bw = (W - L - 10) / h.counts.length;
  h.counts.forEach((c, i) => {
    const bh = (H - B - 10) * c / max;
    const r = svgEl("rect", { x: L + i * bw + 1, y: H - B - bh, width: bw - 2, height: bh, fill: "#2456c8" });
    r.append(svgEl("title"));
    r.firstChild.textContent = `${h.edges[i]} – ${h.edges[i + 1]}: ${c}`;
    svg.append(r);
  });
  const text = (x, y, s, anchor = "middle") => { const t = svgEl("text", { x, y, "font-size": 11, "text-anchor": anchor });
    t.textContent = s; svg.append(t); };
  // x axis: a tick at every edge (every other one when there are many bins), the property and its unit below
  const every = h.counts.length > 10 ? 2 : 1;
  h.edges.forEach((edge, i) => {
    if (i % every) return;
    const x = L + i * bw;
    svg.append(svgEl("line", { x1: x, y1: H - B, x2: x, y2: H - B + 4, stroke: "#667085", class: "x-tick" }));
    text(x, H - B + 15, Number(edge).toFixed(Math.abs(edge) >= 100 ? 0 : 1));
  });
  text((L + W) / 2, H - 3, `${prop}${prop === "TPSA" ? " (Å², RDKit)" : " (RDKit)"} of ${h.n} unique valid molecules, ` +
                           `mean ${h.mean}`);
  // y axis: molecules per bin, ticks at 0, half and the top
  for (const v of [0, Math.round(max / 2), max]) {
    const y = H - B - (H - B - 10) * v / max;
    svg.append(svgEl("line", { x1: L - 4, y1: y, x2: L, y2: y, stroke: "#667085", class: "y-tick" }));
    text(L - 6, y + 4, v, "end");
  }
  const ylab = svgEl("text", { x: 0, y: 0, "font-size": 11, "text-anchor": "middle", class: "y-label",
                               transform: `translate(12 ${(H - B) / 2}) rotate(-90)` });
  ylab.textContent = "molecules";
  svg.append(ylab);
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: "#667085" }));
  svg.append(svgEl("line", { x1: L, y1: 10, x2: L, y2: H - B, stroke: "#667085" }));
  box.append(svg);
}

// ------------------------------------------------------------------------------------------ watch
async function watchRnn() {
  showMessage("");
  const btn = $("#watch-btn");
  busy(btn, true, "replaying…");
  try {
    const res = await call("/api/watch", { model: $("#watch-model").value, smiles: $("#watch-smiles").value,
                                           layer: Number($("#watch-layer").value),
                                           units: Number($("#watch-units").value) });
    state.watch = res;
    renderWatch(res);
  } catch (e) {
    state.watch = null;
    $("#watch-results").hidden = true;  // not the last SMILES's pictures under this one's error
    showMessage(e.message);
  } finally { busy(btn, false); }
}

function renderWatch(res) {
  $("#watch-layer").max = res.layers;
  $("#watch-summary").textContent = `${res.smiles}: ${res.tokens.length} tokens, NLL ${res.nll} nats` +
    `${res.valid ? "" : " (not a valid molecule)"}; ${res.cell.toUpperCase()}, ${res.layers} layers of ` +
    `${res.hidden} units; gates replayed in the lecture's cells, max |Δh| against the model's own forward pass ` +
    `${res.max_abs_diff.toExponential(1)}`;
  // softmax heat map: rows = tokens (no specials but <eos>), columns = steps
  const rows = res.vocabulary.map((t, i) => [t, i]).filter(([t]) => !["<pad>", "<bos>", "<unk>"].includes(t));
  const table = el("table", { class: "heat", id: "softmax-table" });
  table.append(el("tr", {}, el("th", { text: "" }), ...res.inputs.map((t, j) => el("th", { text: t, title: `step ${j + 1}` }))));
  for (const [tok, i] of rows) {
    const tr = el("tr", {}, el("th", { text: tok }));
    res.softmax.forEach((p, j) => {
      const v = p[i];
      const td = el("td", { title: `after ${res.inputs.slice(0, j + 1).join("")}: p(${tok}) = ${v}`,
                            class: res.steps[j].next === tok ? "next" : null });
      td.style.background = `rgba(36, 86, 200, ${Math.min(1, v).toFixed(3)})`;
      if (v > 0.5) td.style.color = "#fff";
      if (v >= 0.1) td.textContent = Math.round(v * 100);
      tr.append(td);
    });
    table.append(tr);
  }
  $("#watch-softmax").replaceChildren(table);
  const topk = el("table", { class: "results" }, el("tr", {}, ...["step", "read", "next", "p(next)", "rank",
    "top 5"].map((h) => el("th", { text: h }))));
  res.steps.forEach((s, j) => topk.append(el("tr", {}, el("td", { text: j + 1 }), el("td", { class: "mono", text: s.input }),
    el("td", { class: "mono", text: s.next }), el("td", { class: "num", text: s.p_next }), el("td", { text: s.rank_next }),
    el("td", { class: "mono", text: s.top.map(([t, p]) => `${t} ${p.toFixed(3)}`).join("  ") }))));
  $("#watch-topk").replaceChildren(topk);
  // gates: one canvas per gate, rows = units, columns = steps
  $("#watch-layer-shown").textContent = res.layer + 1;
  $("#watch-gates-note").textContent = `${res.units.length} of ${res.hidden} units (those whose ` +
    `${res.gates.c ? "cell state" : "state"} varies most along the string), one row each; columns are the steps. ` +
    "Gates run from 0 (white) to 1 (blue); states from −1 (red) through 0 (white) to +1 (blue).";
  const box = $("#watch-gates");
  box.replaceChildren();
  // the five panels side by side where the window is wide enough
  const cw = Math.max(6, Math.min(16, Math.floor(230 / res.inputs.length)));
  const ch = Math.max(2, Math.min(6, Math.floor(260 / res.units.length)));
  for (const [key, label] of Object.entries(res.gate_names)) {
    const data = res.gates[key], signed = key === "c" || key === "h";
    const canvas = el("canvas", { width: cw * res.inputs.length, height: ch * data.length, "data-gate": key });
    const ctx = canvas.getContext("2d");
    data.forEach((row, u) => row.forEach((v, t) => {
      ctx.fillStyle = signed ? diverging(Math.tanh(v)) : sequential(v);
      ctx.fillRect(t * cw, u * ch, cw, ch);
    }));
    canvas.addEventListener("mousemove", (ev) => {
      const t = Math.floor(ev.offsetX / cw), u = Math.floor(ev.offsetY / ch), tip = $("#watch-tip");
      if (t < 0 || u < 0 || t >= res.inputs.length || u >= data.length) { tip.hidden = true; return; }
      tip.textContent = `${label}, unit ${res.units[u]}, step ${t + 1} (read ${res.inputs[t]}): ${data[u][t]}`;
      tip.style.left = ev.clientX + 12 + "px"; tip.style.top = ev.clientY + 12 + "px"; tip.hidden = false;
    });
    canvas.addEventListener("mouseleave", () => { $("#watch-tip").hidden = true; });
    const labels = el("div", { class: "mono dim", style: `display:flex;font-size:10px;width:${cw * res.inputs.length}px` },
      ...res.inputs.map((t) => el("span", { style: `width:${cw}px;text-align:center;overflow:hidden;font-size:9px`,
                                            text: t })));
    box.append(el("div", { class: "gate" }, el("div", { text: label }), canvas, labels));
  }
  $("#watch-results").hidden = false;
}
const sequential = (v) => `rgb(${Math.round(255 - 219 * v)}, ${Math.round(255 - 169 * v)}, ${Math.round(255 - 55 * v)})`;
function diverging(v) {
  if (v >= 0) return `rgb(${Math.round(255 - 219 * v)}, ${Math.round(255 - 169 * v)}, ${Math.round(255 - 55 * v)})`;
  const a = -v; return `rgb(${Math.round(255 - 38 * a)}, ${Math.round(255 - 210 * a)}, ${Math.round(255 - 223 * a)})`;
}

// ------------------------------------------------------------------------------------------ runs and jobs
async function refreshRuns() {
  try {
    const res = await call("/api/runs");
    $("#runs-root").textContent = res.root || "(none: start with --runs DIR)";
    const tbody = $("#runs-table tbody");
    tbody.replaceChildren(...res.runs.map((r) => {
      const loss = r.last.train_loss ?? r.last.loss ?? r.last.mean_score ?? "";
      const tr = el("tr", { "data-run": r.name, class: state.curve === r.name ? "selected" : "",
                            onclick: () => showCurve(r.name) },
        el("td", { class: "mono", text: r.name }), el("td", { text: r.kind }),
        el("td", { class: "state-" + r.status, text: r.status }), el("td", { class: "num", text: r.steps ?? "" }),
        el("td", { class: "num", text: loss === "" ? "" : Number(loss).toFixed(3) }),
        el("td", { text: new Date(r.modified * 1000).toLocaleString() }));
      return tr;
    }));
    if (!res.runs.length) tbody.append(el("tr", {}, el("td", { colspan: 6, class: "dim", text: "no runs yet" })));
    if (state.info) { const info = await call("/api/info"); state.info = info; fillModels(); }
    // while a run trains, its row and (when shown) its learning curve follow it
    clearTimeout(state.runsTimer);
    const live = res.runs.filter((r) => r.status === "running").map((r) => r.name);
    if (live.length && !$("#tab-runs").hidden) {
      state.runsTimer = setTimeout(() => {
        if ($("#tab-runs").hidden) return;
        refreshRuns();
        if (state.curve && live.includes(state.curve)) showCurve(state.curve, true);
      }, 5000);
    }
  } catch (e) { showMessage(e.message); }
}

async function showCurve(name, keepColumns = false) {
  try {
    const res = await call(`/api/runs/curve?run=${encodeURIComponent(name)}`);
    state.curve = name;
    state.curveData = res;
    if (keepColumns && $("#runs-curve-cols input")) { drawCurve(); return; }
    for (const tr of document.querySelectorAll("#runs-table tbody tr")) tr.classList.toggle("selected", tr.dataset.run === name);
    $("#runs-curve-name").textContent = name;
    const cols = Object.keys(res.columns).filter((c) => !["step", "epoch", "elapsed_s", "lr", "tokens_per_s"].includes(c));
    const on = new Set(cols.filter((c) => /loss|nll|score/.test(c)).slice(0, 3));
    if (!on.size && cols.length) on.add(cols[0]);
    $("#runs-curve-cols").replaceChildren(...cols.map((c) => el("label", { class: "dim" },
      el("input", { type: "checkbox", value: c, checked: on.has(c) ? "" : null, onchange: drawCurve }), " " + c + "  ")));
    $("#runs-curve-box").hidden = false;
    drawCurve();
  } catch (e) { showMessage(e.message); }
}

function drawCurve() {
  const res = state.curveData, box = $("#runs-curve");
  box.replaceChildren();
  const xs = res.columns[res.x] || [];
  const picked = [...document.querySelectorAll("#runs-curve-cols input:checked")].map((i) => i.value);
  if (!xs.length || !picked.length) { box.textContent = xs.length ? "choose a column" : "no rows logged yet"; return; }
  const W = 640, H = 260, L = 50, B = 30, colors = ["#2456c8", "#d92d20", "#067647", "#b54708", "#7a5af8"];
  const pts = picked.flatMap((c) => res.columns[c].filter((v) => v !== null));
  let lo = Math.min(...pts), hi = Math.max(...pts);
  if (hi - lo < 1e-9) { const pad = Math.max(Math.abs(hi) * 0.1, 1e-3); lo -= pad; hi += pad; }
  // steps and epochs count from 0: the axis starts there, so one logged row is a dot at its own step, not on a
  // made-up range around it
  const x0 = Math.min(0, ...xs), x1 = Math.max(...xs) > x0 ? Math.max(...xs) : x0 + 1;
  const X = (x) => L + (W - L - 10) * (x - x0) / (x1 - x0), Y = (y) => H - B - (H - B - 10) * (y - lo) / (hi - lo);
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: "curve-svg" });
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: "#667085" }),
             svgEl("line", { x1: L, y1: 10, x2: L, y2: H - B, stroke: "#667085" }));
  const text = (x, y, s, anchor = "middle", fill = "#1d2330", cls = null) => { const t = svgEl("text", { x, y,
    "font-size": 11, "text-anchor": anchor, fill }); if (cls) t.setAttribute("class", cls); t.textContent = s;
    svg.append(t); };
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.append(svgEl("line", { x1: L - 4, y1: Y(v), x2: L, y2: Y(v), stroke: "#667085", class: "y-tick" }));
    text(L - 6, Y(v) + 4, v.toPrecision(3), "end");
  }
  for (const v of [x0, Math.round((x0 + x1) / 2), x1]) {
    svg.append(svgEl("line", { x1: X(v), y1: H - B, x2: X(v), y2: H - B + 4, stroke: "#667085", class: "x-tick" }));
    text(X(v), H - B + 15, v, "middle", "#1d2330", "x-tick-label");
  }
  text((L + W) / 2, H - 3, res.x + (xs.length === 1 ? " (one row logged so far)" : ""));
  picked.forEach((c, k) => {
    const d = res.columns[c].map((v, i) => (v === null ? null : `${X(xs[i]).toFixed(1)},${Y(v).toFixed(1)}`)).filter(Boolean);
    svg.append(svgEl("polyline", { points: d.join(" "), fill: "none", stroke: colors[k % 5], "stroke-width": 1.5,
                                   "data-col": c }));
    if (d.length === 1) { const [cx, cy] = d[0].split(","); svg.append(svgEl("circle", { cx, cy, r: 3, fill: colors[k % 5] })); }
    text(W - 12, 14 + 13 * k, c, "end", colors[k % 5]);
  });
  box.append(svg);
}

async function startFinetune() {
  showMessage("");
  const btn = $("#ft-btn");
  btn.disabled = true;
  try {
    await call("/api/finetune", { name: $("#ft-name").value.trim(), prior: $("#ft-prior").value,
                                  epochs: Number($("#ft-epochs").value), batch_size: Number($("#ft-batch").value),
                                  lr: Number($("#ft-lr").value), dataset: $("#ft-dataset").value,
                                  actives: $("#ft-actives").value });
    showMessage("fine-tune queued: follow it in the jobs below", "info");
    pollJobs();
  } catch (e) { showMessage(e.message); } finally { btn.disabled = false; }
}

async function pollJobs() {
  clearTimeout(state.polling);
  let res;
  try { res = await call("/api/jobs"); } catch (e) { state.polling = setTimeout(pollJobs, 3000); return; }
  const tbody = $("#jobs-table tbody");
  const wasActive = new Set([...tbody.querySelectorAll("tr[data-active]")].map((tr) => tr.dataset.job));
  tbody.replaceChildren(...res.jobs.map((j) => {
    const active = j.state === "queued" || j.state === "running";
    const bar = el("div", { class: "bar" }, el("div"));
    bar.firstChild.style.width = barWidth(j.progress);
    return el("tr", { "data-job": j.id, "data-kind": j.kind, "data-state": j.state, "data-active": active ? "" : null },
      el("td", { text: j.title }), el("td", { class: "state-" + j.state, text: j.state }),
      el("td", {}, bar, el("span", { class: "dim", text: ` ${j.seconds} s` })),
      el("td", { class: j.error ? "state-failed" : "", text: j.error ? `${j.message}: ${j.error}` : j.message }),
      el("td", {}, active ? el("button", { text: state.cancelling.has(j.id) ? "cancelling…" : "Cancel",
                                           disabled: state.cancelling.has(j.id), onclick: async (ev) => {
        // a job of an earlier server is answered once its process has ended: seconds
        state.cancelling.add(j.id); busy(ev.target, true, "cancelling…");
        try { await call(`/api/jobs/${j.id}/cancel`, {}); } catch (e) { showMessage(e.message); }
        state.cancelling.delete(j.id); pollJobs(); } }) : null));
  }));
  if (!res.jobs.length) tbody.append(el("tr", {}, el("td", { colspan: 5, class: "dim", text: "no jobs" })));
  const finishedNow = res.jobs.some((j) => wasActive.has(j.id) && j.kind === "finetune" && !(j.state === "queued" || j.state === "running"));
  if (finishedNow && !$("#tab-runs").hidden) refreshRuns();
  if (res.jobs.some((j) => j.state === "queued" || j.state === "running")) state.polling = setTimeout(pollJobs, 1000);
}

// ------------------------------------------------------------------------------------------ start
async function start() {
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("#predict-btn").addEventListener("click", predict);
  $("#editor-toggle").addEventListener("click", toggleEditor);
  $("#editor-use").addEventListener("click", useDrawing);
  $("#editor-clear").addEventListener("click", () => editor && editor.clearAll());
  $("#example-btn").addEventListener("click", () => { $("#smiles-input").value = EXAMPLES.join("\n"); predict(); });
  $("#smiles-input").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) predict(); });
  $("#gen-btn").addEventListener("click", generate);
  $("#gen-again").addEventListener("click", generateAgain);
  $("#gen-lost-dismiss").addEventListener("click", () => genLost(null));
  $("#gen-hist-prop").addEventListener("change", drawHistogram);
  $("#gen-predict").addEventListener("click", () => {
    const limit = state.info ? state.info.limits.smiles : 1000;
    $("#smiles-input").value = (state.genValid || []).slice(0, limit).join("\n");
    showTab("predict");
    predict();
  });
  $("#watch-btn").addEventListener("click", watchRnn);
  $("#runs-refresh").addEventListener("click", refreshRuns);
  $("#ft-btn").addEventListener("click", startFinetune);
  try {
    state.info = await call("/api/info");
    $("#version").textContent = "v" + state.info.version;
    fillModels();
    $("#ft-dataset").append(...state.info.actives_datasets.map((d) => el("option", { value: d, text: d })));
    $("#gen-n").max = state.info.limits.samples;
  } catch (e) { showMessage(e.message); }
  window.addEventListener("hashchange", () => {
    const t = location.hash.slice(1);
    if (["predict", "generate", "watch", "runs"].includes(t)) showTab(t);
  });
  const tab = location.hash.slice(1);
  showTab(["predict", "generate", "watch", "runs"].includes(tab) ? tab : "predict");
  state.genJob = localStorage.getItem("chemrnn.genJob");
  if (state.genJob) { $("#gen-btn").disabled = true; followGeneration(); }
  pollJobs();
  document.body.dataset.ready = "1";
}
start();
