/*
 * truthloop offline crowd elements: crowd-entity-annotation (named entity recognition).
 *
 *   {name: {"entities": [{"label", "startOffset", "endOffset"}]}}
 *
 * Offsets count Unicode code points of `text`, end exclusive, sorted by start (aws-contracts.md section 11).
 * Select a span with the mouse (or Shift+arrows with caret browsing), then choose a label (click, or press its
 * digit). Choosing a label first arms it: the next selection gets that label. Click an entity to select it;
 * choose another label to relabel it, Delete or its list button removes it.
 */
(function () {
  'use strict';
  const TC = window.TruthloopCrowd;
  if (!TC || customElements.get('crowd-entity-annotation')) return;

  const css = `
    .hint { font-size: 13px; color: #475569; margin-bottom: 8px; min-height: 18px; }
    .doc { font-size: 17px; line-height: 2.1; white-space: pre-wrap; overflow-wrap: anywhere; padding: 14px 16px;
            border: 1px solid #e2e8f0; border-radius: 8px; background: #fff; cursor: text; }
    .doc:focus-visible { outline: 3px solid #93c5fd; }
    mark.ent { background: var(--c-bg); border-bottom: 3px solid var(--c); border-radius: 3px; padding: 1px 0;
               color: inherit; cursor: pointer; }
    mark.ent.sel { box-shadow: 0 0 0 2px var(--c); }
    mark.pending { background: #fde68a; border-radius: 3px; color: inherit; }
    .tag { font-size: 10px; font-weight: 700; color: #fff; background: var(--c); border-radius: 3px; padding: 0 4px;
           margin-left: 2px; vertical-align: super; line-height: 1.2; user-select: none; }
    .swatch { width: 14px; height: 14px; border-radius: 3px; flex: none; }
    .labels { display: flex; flex-direction: column; }
    .option.armed { border-style: dashed; }
    .side-title { font-size: 13px; font-weight: 700; color: #475569; margin: 10px 0 4px; }
    .entities { list-style: none; margin: 0; padding: 0; font-size: 13px; max-height: 260px; overflow: auto; }
    .entities li { display: flex; align-items: center; gap: 6px; padding: 4px 6px; border-radius: 6px; }
    .entities li.sel { background: #eff6ff; }
    .entities li .quote { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .entities li button { padding: 2px 8px; font-size: 12px; }
    .empty { color: #475569; }
  `;

  class CrowdEntityAnnotation extends TC.FullPage {
    setup() {
      this.buildLayout({
        work: '<div class="hint" aria-live="polite"></div><div class="doc" tabindex="0" role="document" aria-label="Text to annotate"></div>',
        side: '<div class="side-title">Labels</div><div class="labels"></div><div class="side-title">Entities</div><ul class="entities"></ul>',
        css,
      });
      this.text = this.getAttribute('text') || '';
      this.labelDefs = this.literalAttr('labels', []).map((l) => (l && typeof l === 'object' ? l : { label: String(l) }));
      this.entities = []; // UTF-16 offsets internally
      const initial = this.literalAttr('initial-value', []);
      for (const e of Array.isArray(initial) ? initial : []) {
        const start = TC.codePointToUtf16(this.text, Number(e.startOffset));
        const end = TC.codePointToUtf16(this.text, Number(e.endOffset));
        if (end > start) this.entities.push({ label: String(e.label), start, end });
      }
      this.entities.sort((a, b) => a.start - b.start);
      this.initialJson = JSON.stringify(this.value.entities);
      this.pending = null;
      this.selected = -1;
      this.armed = -1;
      const box = this.$('.doc');
      box.addEventListener('mouseup', () => setTimeout(() => this.captureSelection(), 0));
      box.addEventListener('keyup', (e) => {
        if (e.shiftKey) this.captureSelection();
      });
      box.addEventListener('keydown', (e) => this.onKey(e));
      box.addEventListener('click', (e) => {
        const mark = e.target.closest && e.target.closest('mark.ent');
        if (mark && !this.hasSelection()) this.select(Number(mark.dataset.index));
      });
      this.renderLabels();
      this.render();
    }

    labelIndex(label) {
      return this.labelDefs.findIndex((d) => d.label === label);
    }

    renderLabels() {
      const box = this.$('.labels');
      box.innerHTML = '';
      this.labelDefs.forEach((def, i) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'option';
        b.setAttribute('aria-pressed', String(i === this.armed));
        b.innerHTML = '<span class="swatch" aria-hidden="true"></span><span class="text"></span>' + (i < 10 ? '<span class="kbd" aria-hidden="true">' + ((i + 1) % 10) + '</span>' : '');
        b.querySelector('.swatch').style.background = TC.labelColor(def.label, i);
        b.querySelector('.text').textContent = def.fullDisplayName || def.label;
        // Keep the worker's text selection when the button takes the click.
        b.addEventListener('mousedown', (e) => e.preventDefault());
        b.addEventListener('click', () => this.applyLabel(i));
        box.appendChild(b);
      });
    }

    hasSelection() {
      const sel = this.shadowRoot.getSelection ? this.shadowRoot.getSelection() : document.getSelection();
      return !!(sel && sel.rangeCount && !sel.isCollapsed);
    }

    // A DOM boundary point → UTF-16 offset into this.text (tag chips count as the end of their entity).
    offsetAt(node, offset) {
      const segs = this.$$('.seg');
      for (const seg of segs) if (seg.firstChild === node) return Number(seg.dataset.start) + offset;
      const point = document.createRange();
      point.setStart(node, offset);
      point.collapse(true);
      for (const seg of segs) {
        const t = seg.firstChild;
        if (t && point.comparePoint(t, 0) >= 0) return Number(seg.dataset.start);
      }
      return this.text.length;
    }

    captureSelection() {
      const sel = this.shadowRoot.getSelection ? this.shadowRoot.getSelection() : document.getSelection();
      if (!sel || !sel.rangeCount || sel.isCollapsed) return;
      const range = sel.getRangeAt(0);
      const box = this.$('.doc');
      if (!box.contains(range.startContainer) || !box.contains(range.endContainer)) return;
      let start = this.offsetAt(range.startContainer, range.startOffset);
      let end = this.offsetAt(range.endContainer, range.endOffset);
      if (start > end) [start, end] = [end, start];
      while (start < end && /\s/.test(this.text[start])) start++;
      while (end > start && /\s/.test(this.text[end - 1])) end--;
      // never split a surrogate pair
      if (start > 0 && /[\udc00-\udfff]/.test(this.text[start])) start--;
      if (end < this.text.length && /[\udc00-\udfff]/.test(this.text[end])) end++;
      if (end <= start) return;
      sel.removeAllRanges();
      if (this.armed >= 0) {
        this.pending = { start, end };
        this.applyLabel(this.armed);
        return;
      }
      this.pending = { start, end };
      this.selected = -1;
      this.hint('Selected “' + this.text.slice(start, end) + '”. Now choose a label.');
      this.render();
    }

    applyLabel(i) {
      const def = this.labelDefs[i];
      if (!def || this.disabled) return;
      if (this.pending) {
        const { start, end } = this.pending;
        const same = this.entities.findIndex((e) => e.start === start && e.end === end);
        const overlap = this.entities.findIndex((e) => e.start < end && start < e.end);
        if (same >= 0) this.entities[same].label = def.label;
        else if (overlap >= 0) {
          this.hint('That span overlaps “' + this.text.slice(this.entities[overlap].start, this.entities[overlap].end) + '”; remove that entity first.');
          this.pending = null;
          this.render();
          return;
        } else this.entities.push({ label: def.label, start, end });
        this.entities.sort((a, b) => a.start - b.start);
        this.selected = this.entities.findIndex((e) => e.start === start && e.end === end);
        this.pending = null;
        this.hint('Labelled “' + this.text.slice(start, end) + '” as ' + (def.fullDisplayName || def.label) + '.');
        this.render();
        this.changed();
      } else if (this.selected >= 0) {
        this.entities[this.selected].label = def.label;
        this.render();
        this.changed();
      } else {
        this.armed = this.armed === i ? -1 : i;
        this.hint(this.armed >= 0 ? 'Now select text: it will be labelled ' + (def.fullDisplayName || def.label) + '.' : '');
        this.renderLabels();
      }
    }

    hint(message) {
      this.$('.hint').textContent = message;
    }

    onKey(event) {
      if (/^[0-9]$/.test(event.key) && !event.ctrlKey && !event.metaKey) {
        this.captureSelection();
        this.applyLabel((Number(event.key) + 9) % 10);
        event.preventDefault();
      } else if ((event.key === 'Delete' || event.key === 'Backspace') && this.selected >= 0) {
        this.remove(this.selected);
        event.preventDefault();
      } else if (event.key === 'Escape') {
        this.pending = null;
        this.selected = -1;
        this.armed = -1;
        this.renderLabels();
        this.hint('');
        this.render();
      }
    }

    select(i) {
      this.selected = i;
      this.pending = null;
      this.render();
    }

    remove(i) {
      this.entities.splice(i, 1);
      this.selected = -1;
      this.render();
      this.changed();
    }

    render() {
      const box = this.$('.doc');
      box.innerHTML = '';
      const seg = (start, end) => {
        const span = document.createElement('span');
        span.className = 'seg';
        span.dataset.start = String(start);
        span.dataset.end = String(end);
        span.textContent = this.text.slice(start, end);
        return span;
      };
      const marks = this.entities.map((e, i) => ({ ...e, index: i }));
      if (this.pending) marks.push({ ...this.pending, pending: true });
      marks.sort((a, b) => a.start - b.start);
      let at = 0;
      for (const m of marks) {
        if (m.start < at) continue;
        if (m.start > at) box.appendChild(seg(at, m.start));
        const mark = document.createElement('mark');
        mark.appendChild(seg(m.start, m.end));
        if (m.pending) mark.className = 'pending';
        else {
          const li = this.labelIndex(m.label);
          const color = TC.labelColor(m.label, li < 0 ? this.labelDefs.length : li);
          mark.className = 'ent' + (m.index === this.selected ? ' sel' : '');
          mark.dataset.index = String(m.index);
          mark.style.setProperty('--c', color);
          mark.style.setProperty('--c-bg', color + '26');
          const tag = document.createElement('span');
          tag.className = 'tag';
          tag.setAttribute('aria-hidden', 'true');
          const def = this.labelDefs[li];
          tag.textContent = def ? def.shortDisplayName || def.label : m.label;
          mark.title = def ? def.fullDisplayName || def.label : m.label;
          mark.appendChild(tag);
        }
        box.appendChild(mark);
        at = m.end;
      }
      if (at < this.text.length) box.appendChild(seg(at, this.text.length));
      const list = this.$('.entities');
      list.innerHTML = '';
      if (!this.entities.length) list.innerHTML = '<li class="empty">None yet.</li>';
      this.entities.forEach((e, i) => {
        const li = document.createElement('li');
        if (i === this.selected) li.className = 'sel';
        li.innerHTML = '<span class="chip"></span><span class="quote"></span><button type="button">Remove</button>';
        const index = this.labelIndex(e.label);
        const chip = li.querySelector('.chip');
        chip.textContent = e.label;
        const chipColor = TC.labelColor(e.label, index < 0 ? this.labelDefs.length : index);
        chip.style.background = chipColor;
        chip.style.color = TC.textOn(chipColor);
        li.querySelector('.quote').textContent = '“' + this.text.slice(e.start, e.end) + '”';
        li.querySelector('button').setAttribute('aria-label', 'Remove ' + e.label + ' “' + this.text.slice(e.start, e.end) + '”');
        li.querySelector('button').addEventListener('click', () => this.remove(i));
        li.addEventListener('click', (ev) => {
          if (ev.target.localName !== 'button') this.select(i);
        });
        list.appendChild(li);
      });
    }

    get value() {
      return {
        entities: this.entities.map((e) => ({
          label: e.label,
          startOffset: TC.utf16ToCodePoint(this.text, e.start),
          endOffset: TC.utf16ToCodePoint(this.text, e.end),
        })),
      };
    }

    contribute(answer) {
      const name = this.getAttribute('name');
      if (name) answer[name] = this.value;
    }

    validate() {
      return this.pending ? 'Choose a label for the selected text, or press Escape to drop the selection.' : null;
    }

    focusFirst() {
      this.$('.doc').focus();
    }

    reset() {
      this.entities = JSON.parse(this.initialJson).map((e) => ({
        label: e.label,
        start: TC.codePointToUtf16(this.text, e.startOffset),
        end: TC.codePointToUtf16(this.text, e.endOffset),
      }));
      this.render();
    }
  }
  TC.define('crowd-entity-annotation', CrowdEntityAnnotation);
})();
