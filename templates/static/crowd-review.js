/*
 * truthloop offline crowd elements: A2I's built-in review elements.
 *
 *   crowd-textract-analyze-document
 *     {"AWS/Textract/AnalyzeDocument/Forms/V1": {"blocks": [{blockType, id, relationships, entityTypes, text}]}}
 *     One KEY and one VALUE block per key-value pair the reviewer kept, with corrected text (camelCase keys).
 *     Pairs marked "not a key-value pair" are left out; "value is blank" gives the VALUE block text "".
 *     A missing important key (attribute `keys`) the reviewer fills in becomes a new pair with ids
 *     "truthloop-key-N" / "truthloop-value-N".
 *   crowd-rekognition-detect-moderation-labels
 *     {"AWS/Rekognition/DetectModerationLabels/Image/V3": {"moderationLabels": [<selected categories>]}}
 *     Category objects come back whole, string categories as strings; the exclusion category gives [].
 *
 * `initial-value` blocks may use the API's PascalCase (BlockType, Id, ...) or the camelCase of A2I's input.
 */
(function () {
  'use strict';
  const TC = window.TruthloopCrowd;
  if (!TC || customElements.get('crowd-textract-analyze-document')) return;
  const NS = 'http://www.w3.org/2000/svg';
  const TEXTRACT_KEY = 'AWS/Textract/AnalyzeDocument/Forms/V1';
  const REKOGNITION_KEY = 'AWS/Rekognition/DetectModerationLabels/Image/V3';

  const get = (obj, name) => {
    if (!obj || typeof obj !== 'object') return undefined;
    if (name in obj) return obj[name];
    const pascal = name[0].toUpperCase() + name.slice(1);
    return obj[pascal];
  };
  // Keys compare without case, spaces or punctuation: "Pay Date:", "PayDate" and "pay-date" are one key.
  const normKey = (text) => String(text || '').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
  const normValue = (text) => String(text || '').toLowerCase().replace(/\s+/g, ' ').trim();

  const docCss = `
    .fp-side { flex-basis: 380px; }
    .stage { position: relative; display: inline-block; max-width: 100%; line-height: 0; background: #f1f5f9;
             border-radius: 8px; overflow: hidden; border: 1px solid #e2e8f0; }
    .stage img { max-width: 100%; max-height: 75vh; display: block; }
    .stage svg { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
    .side-title { font-size: 13px; font-weight: 700; color: #475569; margin: 4px 0 6px; }
    .pair { border: 1px solid #e2e8f0; border-radius: 8px; padding: 8px 10px; margin-bottom: 8px; cursor: pointer; }
    .pair.active { border-color: #1d4ed8; box-shadow: inset 0 0 0 1px #1d4ed8; }
    .pair.important .kname::after { content: "important"; margin-left: 6px; font-size: 10px; font-weight: 700;
             color: #92400e; background: #fef3c7; border-radius: 4px; padding: 1px 4px; vertical-align: middle; }
    .pair.dropped { opacity: .55; }
    .row { display: flex; align-items: center; gap: 6px; margin: 3px 0; }
    .row label.cap { width: 44px; font-size: 12px; color: #475569; flex: none; }
    .row input[type=text] { flex: 1; min-width: 0; font: inherit; padding: 5px 8px; border: 1px solid #cbd5e1; border-radius: 6px; }
    .row input[readonly] { background: #f8fafc; color: #334155; }
    .conf { font-size: 11px; color: #475569; font-variant-numeric: tabular-nums; }
    .conf.low { color: #b91c1c; font-weight: 700; }
    .flags { display: flex; gap: 12px; flex-wrap: wrap; font-size: 12px; color: #475569; margin-top: 4px; }
    .flags label { display: inline-flex; gap: 4px; align-items: center; cursor: pointer; }
    .missing .pair { border-style: dashed; }
    .dup { font-size: 12px; color: #92400e; background: #fffbeb; border-radius: 4px; padding: 2px 6px; margin-top: 4px; }
    .dup:empty { display: none; }
  `;

  class CrowdTextractAnalyzeDocument extends TC.FullPage {
    setup() {
      this.buildLayout({
        work: '<div class="stage"><img alt="Document"><svg></svg></div>',
        side: '<div class="side-title">Key-value pairs</div><div class="pairs"></div><div class="missing"></div>',
        css: docCss,
      });
      const blocks = this.literalAttr('initial-value', []);
      this.blocks = Array.isArray(blocks) ? blocks : [];
      this.byId = new Map(this.blocks.map((b) => [get(b, 'id'), b]));
      const keys = this.literalAttr('keys', []);
      this.importantKeys = (Array.isArray(keys) ? keys : []).map((k) => ({
        key: String(get(k, 'importantFormKey') || ''),
        aliases: (get(k, 'importantFormKeyAliases') || []).map(String),
      }));
      this.pairs = this.extractPairs();
      this.missing = this.importantKeys
        .filter((k) => !this.pairs.some((p) => [k.key, ...k.aliases].map(normKey).includes(normKey(p.keyText))))
        .map((k) => ({ key: k.key, value: '' }));
      this.active = -1;
      const img = this.$('.stage img');
      img.addEventListener('load', () => {
        this.$('svg').setAttribute('viewBox', '0 0 ' + img.naturalWidth + ' ' + img.naturalHeight);
        this.natural = { width: img.naturalWidth, height: img.naturalHeight };
        this.drawBoxes();
      });
      const src = TC.safeUrl(this.getAttribute('src'));
      if (src) img.src = src;
      this.renderPairs();
    }

    textOf(block) {
      const own = get(block, 'text');
      if (own != null && own !== '') return String(own);
      const words = [];
      for (const rel of get(block, 'relationships') || []) {
        if (get(rel, 'type') !== 'CHILD') continue;
        for (const id of get(rel, 'ids') || []) {
          const child = this.byId.get(id);
          if (!child) continue;
          const type = get(child, 'blockType');
          if (type === 'SELECTION_ELEMENT') words.push(get(child, 'selectionStatus') === 'SELECTED' ? '☑' : '☐');
          else if (get(child, 'text') != null) words.push(String(get(child, 'text')));
        }
      }
      return words.join(' ');
    }

    extractPairs() {
      const pairs = [];
      for (const block of this.blocks) {
        if (get(block, 'blockType') !== 'KEY_VALUE_SET' || !(get(block, 'entityTypes') || []).includes('KEY')) continue;
        const valueRel = (get(block, 'relationships') || []).find((r) => get(r, 'type') === 'VALUE');
        const valueId = valueRel ? (get(valueRel, 'ids') || [])[0] : undefined;
        const value = valueId != null ? this.byId.get(valueId) : undefined;
        const keyText = this.textOf(block);
        const important = this.importantKeys.some((k) => [k.key, ...k.aliases].map(normKey).includes(normKey(keyText)));
        pairs.push({
          key: block,
          value,
          keyText,
          valueText: value ? this.textOf(value) : '',
          confidence: Math.min(Number(get(block, 'confidence')) || 100, value ? Number(get(value, 'confidence')) || 100 : 100),
          important,
          notPair: false,
          blank: false,
        });
      }
      return pairs;
    }

    renderPairs() {
      const box = this.$('.pairs');
      box.innerHTML = '';
      if (!this.pairs.length) box.innerHTML = '<div class="muted">No key-value pairs were detected.</div>';
      const noKeyEdit = this.hasAttribute('no-key-edit');
      this.pairs.forEach((pair, i) => {
        const card = document.createElement('div');
        card.className = 'pair' + (pair.important ? ' important' : '') + (i === this.active ? ' active' : '') + (pair.notPair ? ' dropped' : '');
        card.innerHTML = `<div class="row"><label class="cap">Key</label><input type="text" class="k"><span class="kname"></span></div>
          <div class="row"><label class="cap">Value</label><input type="text" class="v"><span class="conf"></span></div>
          <div class="flags"><label><input type="checkbox" class="np"> Not a key-value pair</label>
            <label><input type="checkbox" class="blank"> Value is blank</label></div>`;
        const k = card.querySelector('.k');
        const v = card.querySelector('.v');
        k.value = pair.keyText;
        k.readOnly = noKeyEdit;
        k.setAttribute('aria-label', 'Key ' + (i + 1));
        v.value = pair.blank ? '' : pair.valueText;
        v.disabled = pair.blank || pair.notPair;
        v.setAttribute('aria-label', 'Value for ' + pair.keyText);
        const conf = card.querySelector('.conf');
        conf.textContent = Math.round(pair.confidence) + '%';
        conf.classList.toggle('low', pair.confidence < 70);
        card.querySelector('.np').checked = pair.notPair;
        card.querySelector('.blank').checked = pair.blank;
        k.addEventListener('input', () => {
          pair.keyText = k.value;
          this.changed();
        });
        v.addEventListener('input', () => {
          pair.valueText = v.value;
          this.changed();
        });
        card.querySelector('.np').addEventListener('change', (e) => {
          pair.notPair = e.target.checked;
          this.renderPairs();
          this.changed();
        });
        card.querySelector('.blank').addEventListener('change', (e) => {
          pair.blank = e.target.checked;
          this.renderPairs();
          this.changed();
        });
        card.addEventListener('focusin', () => this.activate(i));
        card.addEventListener('click', () => this.activate(i));
        box.appendChild(card);
      });
      const missing = this.$('.missing');
      missing.innerHTML = '';
      if (this.missing.length) {
        const title = document.createElement('div');
        title.className = 'side-title';
        title.textContent = 'Other important keys: fill one in only if the document shows a value for it that is not listed above';
        missing.appendChild(title);
      }
      this.missing.forEach((m) => {
        const card = document.createElement('div');
        card.className = 'pair important';
        card.innerHTML = '<div class="row"><label class="cap">Key</label><span class="kname"></span></div><div class="row"><label class="cap">Value</label><input type="text" class="v"></div><div class="dup" role="status"></div>';
        card.querySelector('.kname').textContent = m.key;
        const v = card.querySelector('.v');
        v.value = m.value;
        v.setAttribute('aria-label', 'Value for ' + m.key);
        const dup = card.querySelector('.dup');
        const check = () => {
          // a value the model already found under another key probably belongs there, not in a second pair (a hint:
          // two keys may share a value)
          const same = normValue(m.value) && this.pairs.find((p) => !p.notPair && normValue(p.valueText) === normValue(m.value));
          dup.textContent = same ? 'Already listed for “' + same.keyText + '” above: correct that pair instead of adding it again.' : '';
        };
        check();
        v.addEventListener('input', () => {
          m.value = v.value;
          check();
          this.changed();
        });
        missing.appendChild(card);
      });
    }

    activate(i) {
      if (this.active === i) return;
      this.active = i;
      this.$$('.pairs .pair').forEach((card, j) => card.classList.toggle('active', j === i));
      this.drawBoxes();
    }

    drawBoxes() {
      const svg = this.$('svg');
      svg.innerHTML = '';
      if (!this.natural) return;
      const unit = this.natural.width / Math.max(1, svg.getBoundingClientRect().width);
      this.pairs.forEach((pair, i) => {
        for (const [block, color] of [[pair.key, '#2563eb'], [pair.value, '#16a34a']]) {
          const bb = block && get(get(block, 'geometry') || {}, 'boundingBox');
          if (!bb) continue;
          const rect = document.createElementNS(NS, 'rect');
          const attrs = {
            x: Number(get(bb, 'left')) * this.natural.width,
            y: Number(get(bb, 'top')) * this.natural.height,
            width: Number(get(bb, 'width')) * this.natural.width,
            height: Number(get(bb, 'height')) * this.natural.height,
            fill: i === this.active ? color + '33' : 'none',
            stroke: color,
            'stroke-width': (i === this.active ? 3 : 1.5) * unit,
            'stroke-opacity': i === this.active ? 1 : 0.55,
          };
          for (const [k, v] of Object.entries(attrs)) rect.setAttribute(k, String(v));
          svg.appendChild(rect);
        }
      });
    }

    static outBlock(block, entity, text, fallbackRel) {
      const rels = (get(block, 'relationships') || fallbackRel || []).map((r) => ({ type: get(r, 'type'), ids: (get(r, 'ids') || []).slice() }));
      return { blockType: 'KEY_VALUE_SET', id: get(block, 'id'), relationships: rels, entityTypes: [entity], text };
    }

    get value() {
      const blocks = [];
      for (const pair of this.pairs) {
        if (pair.notPair) continue;
        blocks.push(CrowdTextractAnalyzeDocument.outBlock(pair.key, 'KEY', pair.keyText));
        if (pair.value) blocks.push(CrowdTextractAnalyzeDocument.outBlock(pair.value, 'VALUE', pair.blank ? '' : pair.valueText));
      }
      let n = 0;
      for (const m of this.missing) {
        if (!m.value.trim()) continue;
        n++;
        const keyId = 'truthloop-key-' + n;
        const valueId = 'truthloop-value-' + n;
        blocks.push({ blockType: 'KEY_VALUE_SET', id: keyId, relationships: [{ type: 'VALUE', ids: [valueId] }], entityTypes: ['KEY'], text: m.key });
        blocks.push({ blockType: 'KEY_VALUE_SET', id: valueId, relationships: [], entityTypes: ['VALUE'], text: m.value });
      }
      return { blocks };
    }

    contribute(answer) {
      answer[TEXTRACT_KEY] = this.value;
    }

    validate() {
      const seen = new Map();
      for (const pair of this.pairs) {
        if (pair.notPair) continue;
        const key = normKey(pair.keyText);
        if (key && seen.has(key)) return 'The key “' + pair.keyText + '” is listed twice: keep one pair, or tick “Not a key-value pair” on the other.';
        seen.set(key, pair);
      }
      return null;
    }
  }
  TC.define('crowd-textract-analyze-document', CrowdTextractAnalyzeDocument);

  /* ------------------------------------------------------------------ rekognition moderation */

  const rekCss = `
    .stage { position: relative; display: inline-block; max-width: 100%; line-height: 0; background: #f1f5f9; border-radius: 8px; overflow: hidden; }
    .stage img { max-width: 100%; max-height: 70vh; display: block; }
    .side-title { font-size: 13px; font-weight: 700; color: #475569; margin-bottom: 4px; }
    .parent { font-size: 11px; color: #475569; }
    .exclusion { margin-top: 10px; padding-top: 10px; border-top: 1px dashed #cbd5e1; }
    .exclusion:empty { display: none; }
  `;

  class CrowdRekognitionDetectModerationLabels extends TC.FullPage {
    setup() {
      this.buildLayout({
        work: '<div class="stage"><img alt="Image to review"></div>',
        side: '<div class="side-title">Choose all categories that apply</div><div class="options" role="group"></div><div class="exclusion"></div>',
        css: rekCss,
      });
      const src = TC.safeUrl(this.getAttribute('src'));
      if (src) this.$('.stage img').src = src;
      const categories = this.literalAttr('categories', []);
      this.categories = Array.isArray(categories) ? categories : [];
      const exclusion = this.getAttribute('exclusion-category');
      this.exclusion = exclusion == null ? null : (() => {
        const v = this.literalAttr('exclusion-category', exclusion);
        return v && typeof v === 'object' ? String(v.text || v.name || v.label) : String(v);
      })();
      this.selected = new Set();
      this.excluded = false;
      this.render();
    }

    render() {
      const box = this.$('.options');
      box.innerHTML = '';
      this.categories.forEach((c, i) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'option multi';
        b.setAttribute('role', 'checkbox');
        b.setAttribute('aria-checked', String(this.selected.has(i)));
        b.disabled = this.excluded;
        b.innerHTML = '<span class="mark" aria-hidden="true"></span><span class="text"><span class="name"></span><br><span class="parent"></span></span>';
        const name = c && typeof c === 'object' ? String(c.name) : String(c);
        b.querySelector('.name').textContent = name;
        const parent = c && typeof c === 'object' && c.parentName ? 'in ' + c.parentName : '';
        b.querySelector('.parent').textContent = parent;
        if (!parent) b.querySelector('br').remove();
        b.addEventListener('click', () => {
          if (this.selected.has(i)) this.selected.delete(i);
          else this.selected.add(i);
          this.render();
          this.changed();
        });
        box.appendChild(b);
      });
      const ex = this.$('.exclusion');
      ex.innerHTML = '';
      if (this.exclusion != null) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'option multi';
        b.setAttribute('role', 'checkbox');
        b.setAttribute('aria-checked', String(this.excluded));
        b.innerHTML = '<span class="mark" aria-hidden="true"></span><span class="text"></span>';
        b.querySelector('.text').textContent = this.exclusion;
        b.addEventListener('click', () => {
          this.excluded = !this.excluded;
          if (this.excluded) this.selected.clear();
          this.render();
          this.changed();
        });
        ex.appendChild(b);
      }
    }

    get value() {
      if (this.excluded) return { moderationLabels: [] };
      return { moderationLabels: Array.from(this.selected).sort((a, b) => a - b).map((i) => this.categories[i]) };
    }

    contribute(answer) {
      answer[REKOGNITION_KEY] = this.value;
    }

    reset() {
      this.selected.clear();
      this.excluded = false;
      this.render();
    }
  }
  TC.define('crowd-rekognition-detect-moderation-labels', CrowdRekognitionDetectModerationLabels);
})();
