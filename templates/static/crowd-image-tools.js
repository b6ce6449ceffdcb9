/*
 * truthloop offline crowd elements: image annotation tools.
 *
 *   crowd-bounding-box  {name: {"boundingBoxes": [{label, left, top, width, height}],
 *                               "inputImageProperties": {height, width}, "initialValueModified"?: bool}}
 *   crowd-keypoint      {name: {"keypoints": [{label, x, y}], "inputImageProperties": {height, width}}}
 *   crowd-polygon       {name: {"polygons": [{label, vertices: [{x, y}]}], "inputImageProperties": {height, width}}}
 *
 * Coordinates are integer pixels of the original image, origin top-left. Mouse: drag to draw a box (click for a
 * keypoint or a polygon vertex; click the first vertex, double-click or Enter closes a polygon), drag a shape to
 * move it, drag a corner handle to resize. Keyboard (image focused): 1-9/0 choose a label (and relabel the
 * selected shape), arrows nudge the selection (Shift: 10 px), Delete removes it, Escape deselects / cancels.
 *
 * View: the image is scaled to fit the space (small images are scaled up by a whole factor, drawn pixelated so
 * their pixels stay square); Ctrl+wheel, + and - (or the toolbar) zoom around the pointer, up to 8x; the wheel,
 * a middle-button drag or Space+drag pan a zoomed image; Fit returns to the whole image. Undo/redo (toolbar,
 * Ctrl+Z, Ctrl+Shift+Z or Ctrl+Y) step through every change. Handles shrink with small boxes. A label that names
 * a colour is drawn in it ("red" is red).
 */
(function () {
  'use strict';
  const TC = window.TruthloopCrowd;
  if (!TC || customElements.get('crowd-bounding-box')) return;
  const NS = 'http://www.w3.org/2000/svg';

  const css = `
    .hint { font-size: 13px; color: #475569; margin-bottom: 8px; }
    .toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-bottom: 8px; }
    .toolbar button { padding: 2px 10px; font-size: 13px; min-width: 32px; }
    .toolbar .zoom { font-size: 13px; color: #475569; min-width: 3.5em; text-align: center;
                     font-variant-numeric: tabular-nums; }
    .toolbar .sep { width: 1px; height: 20px; background: #cbd5e1; margin: 0 4px; }
    .stage { position: relative; max-width: 100%; line-height: 0; background: #0f172a0d; border-radius: 8px;
             overflow: hidden; user-select: none; touch-action: none; }
    .stage:focus-visible { outline: 3px solid #93c5fd; }
    .canvas { position: absolute; left: 0; top: 0; }
    .canvas img { width: 100%; height: 100%; display: block; pointer-events: none; }
    .canvas img.pixelated { image-rendering: pixelated; }
    .canvas svg { position: absolute; inset: 0; width: 100%; height: 100%; cursor: crosshair; }
    .stage.panning svg, .stage.space svg { cursor: grab; }
    .shape { cursor: move; }
    .handle { cursor: nwse-resize; }
    .handle.ne, .handle.sw { cursor: nesw-resize; }
    .labels { display: flex; flex-direction: column; }
    .swatch { width: 14px; height: 14px; border-radius: 3px; flex: none; }
    .side-title { font-size: 13px; font-weight: 700; color: #475569; margin: 10px 0 4px; }
    .shapes { list-style: none; margin: 0; padding: 0; font-size: 13px; max-height: 240px; overflow: auto; }
    .shapes li { display: flex; align-items: center; gap: 6px; padding: 4px 6px; border-radius: 6px; }
    .shapes li.sel { background: #eff6ff; }
    .shapes li .dims { flex: 1; color: #475569; font-variant-numeric: tabular-nums; }
    .shapes li button { padding: 2px 8px; font-size: 12px; }
    .empty { font-size: 13px; color: #475569; }
  `;

  const round = (n) => Math.round(Number(n) || 0);

  class ImageAnnotator extends TC.FullPage {
    setup() {
      this.buildLayout({
        work:
          '<div class="hint"></div>' +
          '<div class="toolbar" role="toolbar" aria-label="Image tools">' +
          '<button type="button" class="undo" aria-keyshortcuts="Control+Z" disabled>Undo</button>' +
          '<button type="button" class="redo" aria-keyshortcuts="Control+Shift+Z" disabled>Redo</button>' +
          '<span class="sep" aria-hidden="true"></span>' +
          '<button type="button" class="zoom-out" aria-label="Zoom out" aria-keyshortcuts="-">−</button>' +
          '<span class="zoom" role="status" aria-label="Zoom">100%</span>' +
          '<button type="button" class="zoom-in" aria-label="Zoom in" aria-keyshortcuts="+">+</button>' +
          '<button type="button" class="fit">Fit</button></div>' +
          '<div class="stage" tabindex="0" role="application"><div class="canvas"><img alt="Image to annotate"><svg></svg></div></div>',
        side: '<div class="side-title">Labels</div><div class="labels" role="radiogroup"></div><div class="side-title shapes-title"></div><ul class="shapes"></ul>',
        css,
      });
      this.shapes = [];
      this.selected = -1;
      this.active = 0;
      this.natural = null;
      if (this._labels == null) this._labels = this.literalAttr('labels', []).map((l) => (l && typeof l === 'object' ? String(l.label || l.name) : String(l)));
      this.initial = this.readInitial();
      this.shapes = this.initial.map((s) => JSON.parse(JSON.stringify(s)));
      this.history = [this.snapshot()];
      this.future = [];
      this.zoom = 1;
      this.fit = 1;
      this.pan = { x: 0, y: 0 };
      this.view = null;
      this.$('.stage').setAttribute('aria-label', this.constructor.ariaLabel);
      this.$('.hint').textContent = this.constructor.hint;
      this.$('.shapes-title').textContent = this.constructor.listTitle;
      const img = this.$('.stage img');
      img.addEventListener('load', () => {
        this.natural = { width: img.naturalWidth, height: img.naturalHeight };
        this.$('svg').setAttribute('viewBox', '0 0 ' + img.naturalWidth + ' ' + img.naturalHeight);
        this.layout();
        this.render();
      });
      const src = TC.safeUrl(this.getAttribute('src'));
      if (src) img.src = src;
      const svg = this.$('svg');
      svg.addEventListener('pointerdown', (e) => this.onDown(e));
      svg.addEventListener('pointermove', (e) => this.onMove(e));
      svg.addEventListener('pointerup', (e) => this.onUp(e));
      svg.addEventListener('dblclick', (e) => this.onDoubleClick(e));
      const stage = this.$('.stage');
      stage.addEventListener('keydown', (e) => this.onKey(e));
      stage.addEventListener('keyup', (e) => {
        if (e.key === ' ') stage.classList.remove('space');
      });
      stage.addEventListener('blur', () => stage.classList.remove('space'));
      stage.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
      stage.addEventListener('mousedown', (e) => {
        if (e.button === 1) e.preventDefault(); // no autoscroll: the middle button pans
      });
      // Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y also work while a toolbar button has the focus
      this.$('.toolbar').addEventListener('keydown', (e) => {
        if ((e.ctrlKey || e.metaKey) && /^[zy]$/i.test(e.key)) this.onKey(e);
      });
      this.$('.undo').addEventListener('click', () => this.undo());
      this.$('.redo').addEventListener('click', () => this.redo());
      this.$('.zoom-in').addEventListener('click', () => this.zoomTo(this.zoom * 1.25));
      this.$('.zoom-out').addEventListener('click', () => this.zoomTo(this.zoom / 1.25));
      this.$('.fit').addEventListener('click', () => this.zoomTo(1));
      new ResizeObserver(() => {
        this.layout();
        this.render();
      }).observe(stage.parentElement);
      this.renderLabels();
      this.render();
    }

    readInitial() {
      return [];
    }

    get labels() {
      return this._labels || [];
    }

    set labels(list) {
      this._labels = Array.isArray(list) ? list.map(String) : [];
      if (this.shadowRoot && this.shapes) {
        this.active = Math.min(this.active, Math.max(0, this._labels.length - 1));
        this.renderLabels();
        this.render();
      }
    }

    renderLabels() {
      const box = this.$('.labels');
      box.innerHTML = '';
      if (!this.labels.length) box.innerHTML = '<div class="empty">No labels defined.</div>';
      this.labels.forEach((label, i) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'option';
        b.setAttribute('role', 'radio');
        b.setAttribute('aria-checked', String(i === this.active));
        b.innerHTML = '<span class="swatch" aria-hidden="true"></span><span class="text"></span>' + (i < 10 ? '<span class="kbd" aria-hidden="true">' + ((i + 1) % 10) + '</span>' : '');
        b.querySelector('.swatch').style.background = TC.labelColor(label, i);
        b.querySelector('.text').textContent = label;
        b.addEventListener('click', () => this.chooseLabel(i));
        box.appendChild(b);
      });
    }

    chooseLabel(i) {
      if (i < 0 || i >= this.labels.length) return;
      this.active = i;
      if (this.selected >= 0) this.shapes[this.selected].label = this.labels[i];
      this.$$('.labels .option').forEach((b, j) => b.setAttribute('aria-checked', String(j === i)));
      this.render();
      this.changed();
    }

    colorOf(label) {
      const i = this.labels.indexOf(label);
      return TC.labelColor(label, i < 0 ? this.labels.length : i);
    }

    /* ---- view: fit, zoom, pan */

    layout() {
      if (!this.natural) return;
      const stage = this.$('.stage');
      const room = stage.parentElement.clientWidth || this.natural.width;
      const tall = Math.max(240, window.innerHeight * 0.7);
      let fit = Math.min(room / this.natural.width, tall / this.natural.height);
      if (fit >= 1) fit = Math.min(16, Math.floor(fit)); // whole factors keep a small image's pixels square
      this.fit = fit;
      const w = Math.max(1, Math.round(this.natural.width * fit));
      const h = Math.max(1, Math.round(this.natural.height * fit));
      stage.style.width = w + 'px';
      stage.style.height = h + 'px';
      this.view = { w, h };
      this.applyView();
    }

    applyView() {
      if (!this.view) return;
      const { w, h } = this.view;
      const cw = w * this.zoom;
      const ch = h * this.zoom;
      this.pan.x = Math.min(0, Math.max(w - cw, this.pan.x));
      this.pan.y = Math.min(0, Math.max(h - ch, this.pan.y));
      const canvas = this.$('.canvas');
      canvas.style.width = cw + 'px';
      canvas.style.height = ch + 'px';
      canvas.style.left = this.pan.x + 'px';
      canvas.style.top = this.pan.y + 'px';
      this.$('.stage img').classList.toggle('pixelated', this.fit * this.zoom >= 2);
      this.$('.zoom').textContent = Math.round(this.fit * this.zoom * 100) + '%';
      this.$('.zoom-out').disabled = this.zoom <= 1;
      this.$('.zoom-in').disabled = this.zoom >= ImageAnnotator.MAX_ZOOM;
      this.$('.fit').disabled = this.zoom <= 1;
    }

    // Zoom to ``zoom`` (1 = the whole image fits), keeping the image point under (x, y) (stage pixels) in place.
    zoomTo(zoom, x, y) {
      if (!this.view) return;
      const next = Math.min(ImageAnnotator.MAX_ZOOM, Math.max(1, zoom));
      const cx = x == null ? this.view.w / 2 : x;
      const cy = y == null ? this.view.h / 2 : y;
      this.pan.x = cx - ((cx - this.pan.x) * next) / this.zoom;
      this.pan.y = cy - ((cy - this.pan.y) * next) / this.zoom;
      this.zoom = next;
      this.applyView();
      this.render();
    }

    panBy(dx, dy) {
      this.pan.x += dx;
      this.pan.y += dy;
      this.applyView();
    }

    onWheel(event) {
      if (!this.view) return;
      if (event.ctrlKey || event.metaKey) {
        const r = this.$('.stage').getBoundingClientRect();
        this.zoomTo(this.zoom * (event.deltaY < 0 ? 1.25 : 0.8), event.clientX - r.left, event.clientY - r.top);
        event.preventDefault();
      } else if (this.zoom > 1) {
        this.panBy(-(event.shiftKey ? event.deltaY : event.deltaX), -(event.shiftKey ? 0 : event.deltaY));
        event.preventDefault();
      }
    }

    /* ---- undo / redo: every change is a step */

    snapshot() {
      return JSON.stringify(this.shapes);
    }

    changed() {
      const now = this.snapshot();
      if (now !== this.history[this.history.length - 1]) {
        this.history.push(now);
        this.future = [];
      }
      this.updateHistory();
      super.changed();
    }

    restore(state) {
      this.shapes = JSON.parse(state);
      this.selected = -1;
      this.render();
      this.updateHistory();
      super.changed();
    }

    undo() {
      if (this.history.length < 2) return;
      this.future.push(this.history.pop());
      this.restore(this.history[this.history.length - 1]);
    }

    redo() {
      if (!this.future.length) return;
      const state = this.future.pop();
      this.history.push(state);
      this.restore(state);
    }

    updateHistory() {
      this.$('.undo').disabled = this.history.length < 2;
      this.$('.redo').disabled = !this.future.length;
    }

    // Pixel scale: natural image pixels per displayed pixel.
    get unit() {
      const svg = this.$('svg');
      const w = svg.getBoundingClientRect().width;
      return this.natural && w ? this.natural.width / w : 1;
    }

    point(event) {
      const r = this.$('svg').getBoundingClientRect();
      const x = ((event.clientX - r.left) / r.width) * this.natural.width;
      const y = ((event.clientY - r.top) / r.height) * this.natural.height;
      return { x: Math.min(this.natural.width, Math.max(0, x)), y: Math.min(this.natural.height, Math.max(0, y)) };
    }

    el(tag, attrs, parent) {
      const node = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (parent) parent.appendChild(node);
      return node;
    }

    onKey(event) {
      const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
      if ((event.ctrlKey || event.metaKey) && (key === 'z' || key === 'y')) {
        if (key === 'y' || event.shiftKey) this.redo();
        else this.undo();
        event.preventDefault();
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (key === '+' || key === '=' || key === '-') {
        this.zoomTo(key === '-' ? this.zoom / 1.25 : this.zoom * 1.25);
        event.preventDefault();
        return;
      }
      if (key === ' ') {
        this.$('.stage').classList.add('space');
        event.preventDefault();
        return;
      }
      if (/^[0-9]$/.test(event.key)) {
        this.chooseLabel((Number(event.key) + 9) % 10);
        event.preventDefault();
        return;
      }
      if (event.key === 'Escape') {
        this.cancelDraft();
        this.select(-1);
        event.preventDefault();
        return;
      }
      if (event.key === 'Enter' && this.finishDraft()) {
        event.preventDefault();
        return;
      }
      if (this.selected < 0) {
        const pan = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] }[event.key];
        if (pan && this.zoom > 1) {
          this.panBy(pan[0], pan[1]);
          event.preventDefault();
        }
        return;
      }
      if (event.key === 'Delete' || event.key === 'Backspace') {
        this.remove(this.selected);
        event.preventDefault();
        return;
      }
      const step = event.shiftKey ? 10 : 1;
      const delta = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[event.key];
      if (delta) {
        this.translate(this.shapes[this.selected], delta[0], delta[1]);
        this.render();
        this.changed();
        event.preventDefault();
      }
    }

    select(i) {
      this.selected = i;
      if (i >= 0) {
        const li = this.labels.indexOf(this.shapes[i].label);
        if (li >= 0) {
          this.active = li;
          this.$$('.labels .option').forEach((b, j) => b.setAttribute('aria-checked', String(j === li)));
        }
      }
      this.render();
    }

    remove(i) {
      this.shapes.splice(i, 1);
      this.selected = -1;
      this.render();
      this.changed();
    }

    cancelDraft() {}

    finishDraft() {
      return false;
    }

    onDoubleClick() {}

    onDown(event) {
      if (!this.natural) return;
      const stage = this.$('.stage');
      if (event.button === 1 || (event.button === 0 && stage.classList.contains('space'))) {
        stage.focus({ preventScroll: true });
        this.panning = { x: event.clientX, y: event.clientY, left: this.pan.x, top: this.pan.y };
        stage.classList.add('panning');
        this.$('svg').setPointerCapture(event.pointerId);
        event.preventDefault();
        return;
      }
      if (this.disabled || event.button !== 0) return;
      stage.focus({ preventScroll: true });
      const p = this.point(event);
      const target = event.target;
      const index = target.dataset && target.dataset.index != null ? Number(target.dataset.index) : -1;
      this.drag = this.startDrag(p, index, target.dataset ? target.dataset : {});
      if (this.drag) {
        this.$('svg').setPointerCapture(event.pointerId);
        event.preventDefault();
      }
    }

    onMove(event) {
      if (this.panning) {
        this.pan.x = this.panning.left + event.clientX - this.panning.x;
        this.pan.y = this.panning.top + event.clientY - this.panning.y;
        this.applyView();
        return;
      }
      if (!this.drag || !this.natural) return;
      this.drag.move(this.point(event));
      this.drag.moved = true;
      this.render();
    }

    onUp(event) {
      if (this.panning) {
        this.panning = null;
        this.$('.stage').classList.remove('panning');
        return;
      }
      if (!this.drag) return;
      const drag = this.drag;
      this.drag = null;
      if (drag.end) drag.end(this.point(event));
      this.render();
      if (drag.moved || drag.created) this.changed();
    }

    listRow(shape, i, dims) {
      const li = document.createElement('li');
      if (i === this.selected) li.className = 'sel';
      li.innerHTML = '<span class="chip"></span><span class="dims"></span><button type="button">Delete</button>';
      const chip = li.querySelector('.chip');
      chip.textContent = shape.label;
      chip.style.background = this.colorOf(shape.label);
      chip.style.color = TC.textOn(this.colorOf(shape.label));
      li.querySelector('.dims').textContent = dims;
      li.querySelector('button').setAttribute('aria-label', 'Delete ' + shape.label + ' ' + (i + 1));
      li.querySelector('button').addEventListener('click', () => this.remove(i));
      li.addEventListener('click', (e) => {
        if (e.target.localName !== 'button') this.select(i);
      });
      return li;
    }

    render() {
      const svg = this.$('svg');
      if (!svg) return;
      svg.innerHTML = '';
      const list = this.$('.shapes');
      list.innerHTML = '';
      if (!this.natural) return;
      this.draw(svg, this.unit);
      if (!this.shapes.length) list.innerHTML = '<li class="empty">None yet.</li>';
      this.shapes.forEach((s, i) => list.appendChild(this.listRow(s, i, this.describe(s))));
    }

    get imageProperties() {
      return this.natural ? { height: this.natural.height, width: this.natural.width } : null;
    }

    contribute(answer) {
      const name = this.getAttribute('name');
      if (name) answer[name] = this.value;
    }

    validate() {
      if (!this.natural) return 'The image has not loaded yet; wait a moment or reload the page.';
      return null;
    }

    focusFirst() {
      this.$('.stage').focus();
    }

    reset() {
      this.shapes = this.initial.map((s) => JSON.parse(JSON.stringify(s)));
      this.selected = -1;
      this.history = [this.snapshot()];
      this.future = [];
      this.updateHistory();
      this.render();
    }
  }
  ImageAnnotator.MAX_ZOOM = 8;

  /* ------------------------------------------------------------------ bounding box */

  class CrowdBoundingBox extends ImageAnnotator {
    static get ariaLabel() {
      return 'Image: drag to draw a box';
    }
    static get hint() {
      return 'Choose a label, then drag on the image to draw a box. Click a box to select it: drag it to move, drag a corner to resize, choose a label to relabel, Delete to remove.';
    }
    static get listTitle() {
      return 'Boxes';
    }

    readInitial() {
      const raw = this.literalAttr('initial-value', []);
      return (Array.isArray(raw) ? raw : []).map((b) => ({ label: String(b.label), left: round(b.left), top: round(b.top), width: round(b.width), height: round(b.height) }));
    }

    translate(box, dx, dy) {
      box.left = Math.min(this.natural.width - box.width, Math.max(0, box.left + dx));
      box.top = Math.min(this.natural.height - box.height, Math.max(0, box.top + dy));
    }

    describe(b) {
      return round(b.width) + '×' + round(b.height) + ' at ' + round(b.left) + ',' + round(b.top);
    }

    startDrag(p, index, data) {
      if (index >= 0 && data.handle) {
        const box = this.shapes[index];
        this.select(index);
        const fixed = {
          x: data.handle.includes('w') ? box.left + box.width : box.left,
          y: data.handle.includes('n') ? box.top + box.height : box.top,
        };
        return { move: (q) => Object.assign(box, this.rectFrom(fixed, q)) };
      }
      if (index >= 0) {
        const box = this.shapes[index];
        this.select(index);
        const start = { x: p.x, y: p.y, left: box.left, top: box.top };
        return {
          move: (q) => {
            box.left = start.left;
            box.top = start.top;
            this.translate(box, q.x - start.x, q.y - start.y);
          },
        };
      }
      if (!this.labels.length) return null;
      const box = { label: this.labels[this.active], left: p.x, top: p.y, width: 0, height: 0 };
      this.shapes.push(box);
      this.selected = this.shapes.length - 1;
      const minSize = 4 * this.unit;
      return {
        move: (q) => Object.assign(box, this.rectFrom(p, q)),
        end: () => {
          if (box.width < minSize || box.height < minSize) this.shapes.pop();
          // a new box is not left selected: choosing the next label must not relabel it
          this.selected = -1;
        },
        get created() {
          return box.width >= minSize && box.height >= minSize;
        },
      };
    }

    rectFrom(a, b) {
      return { left: Math.min(a.x, b.x), top: Math.min(a.y, b.y), width: Math.abs(a.x - b.x), height: Math.abs(a.y - b.y) };
    }

    draw(svg, unit) {
      this.shapes.forEach((b, i) => {
        const color = this.colorOf(b.label);
        const sel = i === this.selected;
        this.el('rect', { x: b.left, y: b.top, width: b.width, height: b.height, fill: color + (sel ? '33' : '1f'), stroke: color, 'stroke-width': (sel ? 3 : 2) * unit, class: 'shape', 'data-index': i }, svg);
        const t = this.el('text', { x: b.left + 4 * unit, y: Math.max(13 * unit, b.top - 5 * unit), fill: color, 'font-size': 13 * unit, 'font-weight': 700, 'pointer-events': 'none', stroke: '#fff', 'stroke-width': 3 * unit, 'paint-order': 'stroke' }, svg);
        t.textContent = b.label;
        if (sel) {
          // handles: 10 screen pixels, but never more than a third of the box's shorter side (at least 4 pixels)
          const size = Math.max(4 * unit, Math.min(10 * unit, Math.min(b.width, b.height) / 3));
          for (const [h, x, y] of [['nw', b.left, b.top], ['ne', b.left + b.width, b.top], ['sw', b.left, b.top + b.height], ['se', b.left + b.width, b.top + b.height]]) {
            this.el('rect', { x: x - size / 2, y: y - size / 2, width: size, height: size, fill: '#fff', stroke: color, 'stroke-width': Math.min(2 * unit, size / 4), class: 'handle ' + h, 'data-index': i, 'data-handle': h }, svg);
          }
        }
      });
    }

    get value() {
      const boxes = this.shapes.map((b) => ({ label: b.label, left: round(b.left), top: round(b.top), width: round(b.width), height: round(b.height) }));
      const out = { boundingBoxes: boxes, inputImageProperties: this.imageProperties };
      if (this.hasAttribute('initial-value')) out.initialValueModified = JSON.stringify(boxes) !== JSON.stringify(this.initial);
      return out;
    }
  }
  TC.define('crowd-bounding-box', CrowdBoundingBox);

  /* ------------------------------------------------------------------ keypoint */

  class CrowdKeypoint extends ImageAnnotator {
    static get ariaLabel() {
      return 'Image: click to place a keypoint';
    }
    static get hint() {
      return 'Choose a label, then click the image to place a keypoint. Drag a point to move it; Delete removes the selected point.';
    }
    static get listTitle() {
      return 'Keypoints';
    }

    readInitial() {
      const raw = this.literalAttr('initial-value', []);
      return (Array.isArray(raw) ? raw : []).map((k) => ({ label: String(k.label), x: round(k.x), y: round(k.y) }));
    }

    translate(k, dx, dy) {
      k.x = Math.min(this.natural.width, Math.max(0, k.x + dx));
      k.y = Math.min(this.natural.height, Math.max(0, k.y + dy));
    }

    describe(k) {
      return '(' + round(k.x) + ', ' + round(k.y) + ')';
    }

    startDrag(p, index) {
      if (index >= 0) {
        const k = this.shapes[index];
        this.select(index);
        return { move: (q) => Object.assign(k, { x: q.x, y: q.y }) };
      }
      if (!this.labels.length) return null;
      this.shapes.push({ label: this.labels[this.active], x: p.x, y: p.y });
      this.selected = -1;
      return { move: () => {}, created: true };
    }

    draw(svg, unit) {
      this.shapes.forEach((k, i) => {
        const color = this.colorOf(k.label);
        this.el('circle', { cx: k.x, cy: k.y, r: (i === this.selected ? 8 : 6) * unit, fill: color, stroke: '#fff', 'stroke-width': 2 * unit, class: 'shape', 'data-index': i }, svg);
        const t = this.el('text', { x: k.x + 9 * unit, y: k.y - 7 * unit, fill: color, 'font-size': 13 * unit, 'font-weight': 700, 'pointer-events': 'none', stroke: '#fff', 'stroke-width': 3 * unit, 'paint-order': 'stroke' }, svg);
        t.textContent = k.label;
      });
    }

    get value() {
      return { keypoints: this.shapes.map((k) => ({ label: k.label, x: round(k.x), y: round(k.y) })), inputImageProperties: this.imageProperties };
    }
  }
  TC.define('crowd-keypoint', CrowdKeypoint);

  /* ------------------------------------------------------------------ polygon */

  class CrowdPolygon extends ImageAnnotator {
    static get ariaLabel() {
      return 'Image: click to add polygon vertices';
    }
    static get hint() {
      return 'Choose a label, then click to add vertices. Click the first vertex, double-click or press Enter to close the polygon; Escape cancels it. Drag a vertex to adjust it.';
    }
    static get listTitle() {
      return 'Polygons';
    }

    readInitial() {
      const raw = this.literalAttr('initial-value', []);
      return (Array.isArray(raw) ? raw : []).map((p) => ({ label: String(p.label), vertices: (p.vertices || []).map((v) => ({ x: round(v.x), y: round(v.y) })) }));
    }

    translate(poly, dx, dy) {
      const xs = poly.vertices.map((v) => v.x);
      const ys = poly.vertices.map((v) => v.y);
      dx = Math.min(this.natural.width - Math.max(...xs), Math.max(-Math.min(...xs), dx));
      dy = Math.min(this.natural.height - Math.max(...ys), Math.max(-Math.min(...ys), dy));
      poly.vertices.forEach((v) => {
        v.x += dx;
        v.y += dy;
      });
    }

    describe(p) {
      return p.vertices.length + ' vertices';
    }

    cancelDraft() {
      if (this.draft) {
        this.draft = null;
        this.render();
      }
    }

    finishDraft() {
      if (!this.draft || this.draft.vertices.length < 3) return false;
      this.shapes.push(this.draft);
      this.selected = -1;
      this.draft = null;
      this.render();
      this.changed();
      return true;
    }

    onDoubleClick() {
      if (this.draft && this.draft.vertices.length > 3) {
        this.draft.vertices.pop(); // the second click of the double-click added a duplicate vertex
        this.finishDraft();
      }
    }

    startDrag(p, index, data) {
      if (index >= 0 && data.vertex != null && !this.draft) {
        const v = this.shapes[index].vertices[Number(data.vertex)];
        this.select(index);
        return { move: (q) => Object.assign(v, q) };
      }
      if (index >= 0 && !this.draft) {
        const poly = this.shapes[index];
        this.select(index);
        let last = p;
        return {
          move: (q) => {
            this.translate(poly, q.x - last.x, q.y - last.y);
            last = q;
          },
        };
      }
      if (!this.labels.length) return null;
      if (!this.draft) this.draft = { label: this.labels[this.active], vertices: [] };
      const first = this.draft.vertices[0];
      if (first && this.draft.vertices.length >= 3 && Math.hypot(first.x - p.x, first.y - p.y) <= 8 * this.unit) {
        this.finishDraft();
        return null;
      }
      this.draft.vertices.push({ x: p.x, y: p.y });
      this.selected = -1;
      this.render();
      return null;
    }

    draw(svg, unit) {
      this.shapes.forEach((poly, i) => {
        const color = this.colorOf(poly.label);
        const sel = i === this.selected;
        this.el('polygon', { points: poly.vertices.map((v) => v.x + ',' + v.y).join(' '), fill: color + (sel ? '40' : '26'), stroke: color, 'stroke-width': (sel ? 3 : 2) * unit, class: 'shape', 'data-index': i }, svg);
        const top = poly.vertices.reduce((a, v) => (v.y < a.y ? v : a), poly.vertices[0]);
        if (top) {
          const t = this.el('text', { x: top.x + 4 * unit, y: Math.max(13 * unit, top.y - 5 * unit), fill: color, 'font-size': 13 * unit, 'font-weight': 700, 'pointer-events': 'none', stroke: '#fff', 'stroke-width': 3 * unit, 'paint-order': 'stroke' }, svg);
          t.textContent = poly.label;
        }
        if (sel) poly.vertices.forEach((v, j) => this.el('circle', { cx: v.x, cy: v.y, r: 5 * unit, fill: '#fff', stroke: color, 'stroke-width': 2 * unit, class: 'handle', 'data-index': i, 'data-vertex': j }, svg));
      });
      if (this.draft) {
        const color = this.colorOf(this.draft.label);
        this.el('polyline', { points: this.draft.vertices.map((v) => v.x + ',' + v.y).join(' '), fill: 'none', stroke: color, 'stroke-width': 2 * unit, 'stroke-dasharray': 6 * unit, 'pointer-events': 'none' }, svg);
        this.draft.vertices.forEach((v, j) => this.el('circle', { cx: v.x, cy: v.y, r: (j === 0 ? 7 : 4) * unit, fill: j === 0 ? '#fff' : color, stroke: color, 'stroke-width': 2 * unit, 'pointer-events': 'none' }, svg));
      }
    }

    validate() {
      return super.validate() || (this.draft ? 'Finish the polygon you are drawing (Enter) or cancel it (Escape).' : null);
    }

    get value() {
      return {
        polygons: this.shapes.map((poly) => ({ label: poly.label, vertices: poly.vertices.map((v) => ({ x: round(v.x), y: round(v.y) })) })),
        inputImageProperties: this.imageProperties,
      };
    }
  }
  TC.define('crowd-polygon', CrowdPolygon);
  TC.ImageAnnotator = ImageAnnotator;
})();
