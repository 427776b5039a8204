// tfsem studio: paint a label map (pixel-exact ids), see the model's photo.
// State lives in typed arrays at the model's size; the canvas only shows them.
"use strict";

const $ = (id) => document.getElementById(id);

const S = {
  info: null, W: 0, H: 0, label: null, instance: null, byId: new Map(),
  current: 0, tool: "brush", size: 4, undo: [], redo: [], stroke: null,
  nextInstance: new Map(), nextFree: 1000, cityscapesIds: true,
  seq: 0, inflight: false, shown: 0, dropped: 0, photoBlob: null,
  style: null, clusters: {}, picked: null,
  codes: null, codesDefault: null, gallery: [], selected: -1,
};
window.studio = S; // for debugging from the console

function status(text, error = false) {
  const el = $("status");
  el.textContent = text;
  el.className = error ? "error" : "";
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (Array.isArray(body.detail)) return body.detail.map((d) => `${d.loc.slice(-1)}: ${d.msg}`).join("; ");
    return body.detail || response.statusText;
  } catch (e) { return `${response.status} ${response.statusText}`; }
}

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await errorText(response));
  return response;
}

// -- instance ids: "thing" strokes get their own object ------------------------------
// Cityscapes' scheme (class * 1000 + k) when every thing id is below 65 (16-bit PNGs);
// otherwise ids from 1000 up. Stuff pixels carry their class id, as in Cityscapes.
function isThing(id) { const c = S.byId.get(id); return !!(c && c.thing); }

function newInstanceId(cls) {
  if (!isThing(cls)) return cls;
  if (S.cityscapesIds) {
    const k = (S.nextInstance.get(cls) || 0) + 1;
    S.nextInstance.set(cls, k);
    return cls * 1000 + k;
  }
  return S.nextFree++;
}

function noteExistingInstances() {
  S.nextInstance.clear();
  let max = 999;
  for (const v of S.instance) {
    if (v >= 1000) {
      const cls = Math.floor(v / 1000);
      S.nextInstance.set(cls, Math.max(S.nextInstance.get(cls) || 0, v % 1000));
      max = Math.max(max, v);
    }
  }
  S.nextFree = max + 1;
}

// -- drawing ----------------------------------------------------------------------
let imageData = null;

function redraw() {
  const { W, H, label, instance } = S;
  const px = imageData.data;
  const edges = $("show-edges").checked && S.info.use_instances;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const c = S.byId.get(label[i]);
      let [r, g, b] = c ? c.color : [255, 0, 255];
      if (edges && ((x + 1 < W && instance[i + 1] !== instance[i]) ||
                    (y + 1 < H && instance[i + W] !== instance[i]))) {
        r = r * 0.45; g = g * 0.45; b = b * 0.45;
      }
      px[4 * i] = r; px[4 * i + 1] = g; px[4 * i + 2] = b; px[4 * i + 3] = 255;
    }
  }
  $("canvas").getContext("2d").putImageData(imageData, 0, 0);
}

function snapshot() {
  S.undo.push({ label: S.label.slice(), instance: S.instance.slice(), clusters: { ...S.clusters } });
  if (S.undo.length > 100) S.undo.shift();
  S.redo = [];
}

function restore(from, to) {
  const state = from.pop();
  if (!state) return;
  to.push({ label: S.label, instance: S.instance, clusters: S.clusters });
  S.label = state.label; S.instance = state.instance; S.clusters = state.clusters;
  noteExistingInstances();
  redraw();
  requestRender();
}

function stamp(cx, cy, cls, inst) {
  const r = S.size / 2;
  const lo = -Math.floor((S.size - 1) / 2), hi = Math.ceil((S.size - 1) / 2);
  for (let dy = lo; dy <= hi; dy++) {
    for (let dx = lo; dx <= hi; dx++) {
      if (S.size > 2 && dx * dx + dy * dy > r * r) continue;
      const x = cx + dx, y = cy + dy;
      if (x < 0 || y < 0 || x >= S.W || y >= S.H) continue;
      S.label[y * S.W + x] = cls;
      S.instance[y * S.W + x] = inst;
    }
  }
}

function line(x0, y0, x1, y1, cls, inst) {
  const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  for (let s = 0; s <= n; s++) {
    stamp(Math.round(x0 + (x1 - x0) * s / n), Math.round(y0 + (y1 - y0) * s / n), cls, inst);
  }
}

function fill(x, y, cls) {
  const { W, H, label, instance } = S;
  const start = y * W + x;
  const oldLabel = label[start], oldInst = instance[start];
  const inst = newInstanceId(cls);
  if (oldLabel === cls && oldInst === inst) return;
  const stack = [start];
  const seen = new Uint8Array(W * H);
  while (stack.length) {
    const i = stack.pop();
    if (seen[i] || label[i] !== oldLabel || instance[i] !== oldInst) continue;
    seen[i] = 1;
    label[i] = cls; instance[i] = inst;
    const px = i % W, py = (i - px) / W;
    if (px > 0) stack.push(i - 1);
    if (px + 1 < W) stack.push(i + 1);
    if (py > 0) stack.push(i - W);
    if (py + 1 < H) stack.push(i + W);
  }
}

function pixelAt(event) {
  const rect = $("canvas").getBoundingClientRect();
  const x = Math.floor((event.clientX - rect.left) * S.W / rect.width);
  const y = Math.floor((event.clientY - rect.top) * S.H / rect.height);
  return [Math.min(Math.max(x, 0), S.W - 1), Math.min(Math.max(y, 0), S.H - 1)];
}

function onPointerDown(event) {
  const [x, y] = pixelAt(event);
  if (S.tool === "pick") { selectClass(S.label[y * S.W + x]); return; }
  if (S.tool === "object") { pickObject(x, y); return; }
  snapshot();
  if (S.tool === "fill") { fill(x, y, S.current); redraw(); requestRender(); return; }
  $("canvas").setPointerCapture(event.pointerId);
  S.stroke = { x, y, inst: newInstanceId(S.current) };
  stamp(x, y, S.current, S.stroke.inst);
  redraw();
}

function onPointerMove(event) {
  if (!S.stroke) return;
  const [x, y] = pixelAt(event);
  line(S.stroke.x, S.stroke.y, x, y, S.current, S.stroke.inst);
  S.stroke.x = x; S.stroke.y = y;
  redraw();
}

function onPointerUp() {
  if (!S.stroke) return;
  S.stroke = null;
  requestRender();
}

// -- palette ------------------------------------------------------------------------
function selectClass(id) {
  S.current = id;
  const c = S.byId.get(id);
  $("current-name").textContent = c ? `${c.name} (${id})${c.thing ? ", objects" : ""}` : String(id);
  $("current-swatch").style.background = c ? `rgb(${c.color.join(",")})` : "";
  for (const li of $("classes").children) li.classList.toggle("selected", Number(li.dataset.id) === id);
}

function buildPalette() {
  const list = $("classes");
  for (const c of S.info.label_space.classes) {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    li.dataset.name = c.name.toLowerCase();
    li.title = c.thing ? "a thing class: each stroke is its own object" : "a stuff class";
    li.innerHTML = `<span class="swatch"></span><span class="name"></span><span class="id"></span>`;
    li.querySelector(".swatch").style.background = `rgb(${c.color.join(",")})`;
    li.querySelector(".name").textContent = c.name;
    li.querySelector(".id").textContent = c.id;
    li.addEventListener("click", () => selectClass(c.id));
    list.appendChild(li);
  }
  $("search").addEventListener("input", () => {
    const q = $("search").value.trim().toLowerCase();
    for (const li of list.children) li.hidden = q !== "" && !li.dataset.name.includes(q) && li.dataset.id !== q;
  });
}

// -- rendering: one request in flight, the newest state wins ----------------------------
function requestRender() {
  S.seq++;
  if (!S.inflight) sendRender();
}

async function mapPng(values, maxValue) {
  return encodeGreyPng(values, S.W, S.H, maxValue > 255 ? 16 : 8);
}

function maxOf(values) { let m = 0; for (const v of values) if (v > m) m = v; return m; }

async function sendRender() {
  S.inflight = true;
  const seq = S.seq;
  const t0 = performance.now();
  try {
    const body = {
      label_png: bytesToBase64(await mapPng(S.label, maxOf(S.label))),
      seed: Number($("seed").value) || 0,
    };
    if (S.info.use_instances) body.instance_png = bytesToBase64(await encodeGreyPng(S.instance, S.W, S.H, 16));
    if (S.style) body.style_image = S.style;
    if (Object.keys(S.clusters).length) body.clusters = S.clusters;
    if (S.codes) body.style_codes = bytesToBase64(new Uint8Array(S.codes.buffer));
    const response = await api("/api/render", body);
    const blob = await response.blob();
    if (seq === S.seq) {
      S.photoBlob = blob;
      const photo = $("photo");
      if (photo.src) URL.revokeObjectURL(photo.src);
      photo.src = URL.createObjectURL(blob);
      photo.dataset.seq = String(seq);
      S.shown = seq;
      const ms = Math.round(performance.now() - t0);
      $("latency").textContent = `${ms} ms (render ${response.headers.get("X-Render-Ms")} ms)`;
      status("");
    } else {
      S.dropped++; // a newer map was painted meanwhile: this answer is stale
    }
  } catch (err) {
    if (seq === S.seq) status(err.message, true);
  } finally {
    S.inflight = false;
    if (seq !== S.seq) sendRender();
  }
}

// -- region styles (SEAN): a gallery of encoded photos, blended per class in the page ------
// S.codes: Float32Array [slots * length], what every render sends. Applying a photo to a
// region: codes[k] = (1 - alpha) codes[k] + alpha photo[k] (the official UI's transfer);
// "all regions" at an alpha between 0 and 1 interpolates toward the photo.
function codesOf(base64) { return new Float32Array(base64ToBytes(base64).buffer); }

async function addStylePhoto() {
  const file = $("codes-photo").files[0];
  if (!file) { status("choose a style photo first", true); return; }
  const labelFile = $("codes-photo-label").files[0];
  const label = labelFile ? await fileToBase64(labelFile)
    : bytesToBase64(await mapPng(S.label, maxOf(S.label)));
  try {
    const answer = await (await api("/api/encode_style",
      { style_image: await fileToBase64(file), label_png: label })).json();
    S.gallery.push({ name: file.name, codes: codesOf(answer.codes), present: answer.present,
                     url: URL.createObjectURL(file) });
    selectStylePhoto(S.gallery.length - 1);
    status(`encoded ${file.name}`);
  } catch (err) { status(err.message, true); }
}

function selectStylePhoto(index) {
  S.selected = index;
  const gallery = $("codes-gallery");
  gallery.innerHTML = "";
  S.gallery.forEach((item, i) => {
    const img = document.createElement("img");
    img.src = item.url; img.alt = item.name; img.title = item.name;
    img.className = "style-thumb" + (i === index ? " selected" : "");
    img.setAttribute("role", "option");
    img.setAttribute("aria-selected", String(i === index));
    img.addEventListener("click", () => selectStylePhoto(i));
    gallery.appendChild(img);
  });
}

function applyStyle() {
  const item = S.gallery[S.selected];
  if (!item) { status("add a style photo first", true); return; }
  const L = S.info.style_codes.length;
  const alpha = Number($("codes-alpha").value) / 100;
  const which = $("codes-class").value;
  const slots = which === "all" ? item.present.map((p, k) => (p ? k : -1)).filter((k) => k >= 0)
    : [Number(which)];
  if (which !== "all" && !item.present[slots[0]]) {
    status(`${item.name} has no ${$("codes-class").selectedOptions[0].text}: no style to take`, true);
    return;
  }
  for (const k of slots) {
    for (let j = k * L; j < (k + 1) * L; j++) S.codes[j] = (1 - alpha) * S.codes[j] + alpha * item.codes[j];
  }
  requestRender();
}

function setupStyleCodes(info) {
  S.codesDefault = codesOf(info.style_codes.default);
  S.codes = new Float32Array(S.codesDefault);
  $("codes-controls").hidden = false;
  $("codes-add-controls").hidden = !info.style_codes.encode;
  const select = $("codes-class");
  info.label_space.classes.forEach((c, k) => {
    const option = document.createElement("option");
    option.value = String(k); option.textContent = c.name;
    select.appendChild(option);
  });
  $("codes-alpha").addEventListener("input", () => {
    $("codes-alpha-value").textContent = (Number($("codes-alpha").value) / 100).toFixed(2);
  });
  $("codes-add").addEventListener("click", addStylePhoto);
  $("codes-apply").addEventListener("click", applyStyle);
  $("codes-mean").addEventListener("click", () => { S.codes = new Float32Array(S.codesDefault); requestRender(); });
}

// -- maps from the server (open, dream) -------------------------------------------------
function setMaps(maps) {
  if (maps.height !== S.H || maps.width !== S.W) throw new Error("map size differs from the model's");
  snapshot();
  S.label = new Uint16Array(base64ToBytes(maps.label).buffer);
  S.instance = new Int32Array(base64ToBytes(maps.instance).buffer);
  S.clusters = {};
  noteExistingInstances();
  redraw();
  requestRender();
}

async function openFiles() {
  const labelFile = $("open-label").files[0];
  if (!labelFile) { status("choose a label PNG first", true); return; }
  try {
    const body = { label_png: await fileToBase64(labelFile) };
    const instanceFile = $("open-instance").files[0];
    if (instanceFile) body.instance_png = await fileToBase64(instanceFile);
    const colorMap = $("open-colormap").files[0];
    if (colorMap) body.color_map = JSON.parse(await colorMap.text());
    const maps = await (await api("/api/open", body)).json();
    setMaps(maps);
    const [h, w] = maps.source_size;
    status(h !== S.H || w !== S.W ? `opened ${labelFile.name} (${w}x${h}, resized to ${S.W}x${S.H})` : `opened ${labelFile.name}`);
  } catch (err) { status(`${labelFile.name}: ${err.message}`, true); }
}

async function dream() {
  try {
    const body = { seed: Number($("dream-seed").value) || 0 };
    const truncated = !$("dream-truncation-controls").hidden;
    if (truncated) body.truncation = Number($("dream-truncation").value);
    const mixSeed = $("dream-mix-seed").value, mixLayer = $("dream-mix-layer").value;
    const mixed = !$("dream-mix-controls").hidden && mixSeed !== "";
    if (mixed) body.mix_seed = Number(mixSeed);
    if (mixed && mixLayer !== "") body.mix_layer = Number(mixLayer);
    setMaps(await (await api("/api/dream", body)).json());
    status(`dreamed map ${$("dream-seed").value}` +
           (truncated ? ` (truncation ${body.truncation.toFixed(2)})` : "") +
           (mixed ? ` mixed with seed ${body.mix_seed}` +
                    (body.mix_layer !== undefined ? ` from layer ${body.mix_layer}` : "") : ""));
  } catch (err) { status(err.message, true); }
}

function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// -- appearance per object (pix2pixHD instance features) ---------------------------------
function pickObject(x, y) {
  const i = y * S.W + x;
  const inst = S.instance[i], cls = S.label[i];
  const count = S.info.clusters[String(cls)] || 0;
  const panel = $("object-panel");
  panel.hidden = false;
  panel.innerHTML = "";
  const c = S.byId.get(cls);
  const title = document.createElement("span");
  title.textContent = `object ${inst} (${c ? c.name : cls}): `;
  panel.appendChild(title);
  if (!count) { panel.appendChild(document.createTextNode("no appearance clusters for this class")); return; }
  for (let k = 0; k < count; k++) {
    const b = document.createElement("button");
    b.textContent = `look ${k}`;
    b.dataset.cluster = k;
    if (S.clusters[String(inst)] === k) b.classList.add("chosen");
    b.addEventListener("click", () => {
      snapshot();
      S.clusters[String(inst)] = k;
      for (const o of panel.querySelectorAll("button")) o.classList.toggle("chosen", o === b);
      requestRender();
    });
    panel.appendChild(b);
  }
}

// -- start --------------------------------------------------------------------------
function initialMap() {
  const names = new Map(S.info.label_space.classes.map((c) => [c.name, c.id]));
  const first = S.info.label_space.classes[0].id;
  const top = names.has("sky") ? names.get("sky") : first;
  const bottom = names.has("road") ? names.get("road") : top;
  for (let y = 0; y < S.H; y++) {
    const cls = y < S.H / 2 ? top : bottom;
    S.label.fill(cls, y * S.W, (y + 1) * S.W);
    S.instance.fill(cls, y * S.W, (y + 1) * S.W);
  }
  const brush = ["car", "tree", "person"].find((n) => names.has(n));
  return brush ? names.get(brush) : first;
}

// -- photo-to-photo models: open a photo, see the model's photo -----------------------
async function translatePhoto(file) {
  const bitmap = await createImageBitmap(file);
  $("canvas").getContext("2d").drawImage(bitmap, 0, 0, S.W, S.H);
  const started = performance.now();
  const response = await api("/api/translate", { image: await fileToBase64(file) });
  S.photoBlob = await response.blob();
  $("photo").src = URL.createObjectURL(S.photoBlob);
  $("latency").textContent = `${Math.round(performance.now() - started)} ms ` +
    `(${response.headers.get("X-Render-Ms")} ms)`;
  status(`translated ${file.name}`);
}

function startPhotoMode(info) {
  $("palette").hidden = true;
  for (const el of document.querySelectorAll("#toolbar fieldset")) el.hidden = el.id !== "photo-controls";
  $("photo-controls").hidden = false;
  $("photo-file").addEventListener("change", async () => {
    const file = $("photo-file").files[0];
    if (!file) return;
    try { await translatePhoto(file); } catch (err) { status(`${file.name}: ${err.message}`, true); }
  });
  $("photo-download").addEventListener("click", () => {
    if (S.photoBlob) download(S.photoBlob, "studio_photo.png"); else status("no photo yet", true);
  });
  status("open a photo: the model translates it");
}

async function start() {
  const info = await (await fetch("/api/info")).json();
  S.info = info; S.W = info.width; S.H = info.height;
  for (const c of info.label_space.classes) S.byId.set(c.id, c);
  S.cityscapesIds = info.label_space.classes.every((c) => !c.thing || c.id < 65);
  $("model-name").textContent = `${info.name} (${info.backend}, ${info.width}x${info.height}, ${info.input === "image" ? "photo to photo" : info.label_space.name})`;
  const canvas = $("canvas");
  canvas.width = S.W; canvas.height = S.H;
  const scale = Math.max(1, Math.min(Math.floor(560 / S.W), Math.floor(560 / S.H))) || 1;
  for (const el of [canvas, $("photo")]) { el.style.width = `${S.W * scale}px`; el.style.height = `${S.H * scale}px`; }
  if (info.input === "image") { startPhotoMode(info); return; }
  imageData = canvas.getContext("2d").createImageData(S.W, S.H);
  S.label = new Uint16Array(S.W * S.H);
  S.instance = new Int32Array(S.W * S.H);
  buildPalette();
  selectClass(initialMap());
  noteExistingInstances();
  $("style-controls").hidden = !info.seed && !info.style_image;
  $("style-image-controls").hidden = !info.style_image;
  $("tool-object-label").hidden = !Object.keys(info.clusters).length;
  $("dream-controls").hidden = !info.dream;
  $("dream-truncation-controls").hidden = !info.dream_truncation;
  $("dream-mix-controls").hidden = !info.dream_truncation;
  if (info.dream_style_inputs) $("dream-mix-layer").max = info.dream_style_inputs;
  $("dream-truncation").addEventListener("input", () => {
    $("dream-truncation-value").textContent = Number($("dream-truncation").value).toFixed(2);
  });
  if (info.style_codes) setupStyleCodes(info);

  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", onPointerUp);
  for (const radio of document.querySelectorAll("input[name=tool]")) {
    radio.addEventListener("change", () => { S.tool = radio.value; });
  }
  $("size").addEventListener("change", () => { S.size = Number($("size").value); });
  S.size = Number($("size").value);
  $("show-edges").addEventListener("change", redraw);
  $("undo").addEventListener("click", () => restore(S.undo, S.redo));
  $("redo").addEventListener("click", () => restore(S.redo, S.undo));
  $("clear").addEventListener("click", () => {
    snapshot();
    S.label.fill(S.current);
    S.instance.fill(newInstanceId(S.current));
    S.clusters = {};
    redraw(); requestRender();
  });
  document.addEventListener("keydown", (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.target.tagName === "INPUT") return;
    if (e.key === "z") { e.preventDefault(); restore(S.undo, S.redo); }
    if (e.key === "y") { e.preventDefault(); restore(S.redo, S.undo); }
  });
  $("seed").addEventListener("change", requestRender);
  $("seed-random").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 100000); requestRender();
  });
  $("style-file").addEventListener("change", async () => {
    const file = $("style-file").files[0];
    S.style = file ? await fileToBase64(file) : null;
    requestRender();
  });
  $("style-clear").addEventListener("click", () => { S.style = null; $("style-file").value = ""; requestRender(); });
  $("dream").addEventListener("click", dream);
  $("open").addEventListener("click", openFiles);
  $("download-label").addEventListener("click", async () => {
    download(new Blob([await mapPng(S.label, maxOf(S.label))], { type: "image/png" }), "studio_gtFine_labelIds.png");
  });
  $("download-photo").addEventListener("click", () => {
    if (S.photoBlob) download(S.photoBlob, "studio_photo.png"); else status("no photo yet", true);
  });
  redraw();
  requestRender();
}

start().catch((err) => status(`cannot start: ${err.message}`, true));
