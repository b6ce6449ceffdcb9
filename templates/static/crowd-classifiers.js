/*
 * truthloop offline crowd elements: classifiers.
 *
 *   crowd-classifier                     {name: {"label": "<category>"}}
 *   crowd-classifier-multi-select        {name: {"labels": ["a", "b"]}}          (categories order)
 *   crowd-image-classifier               {name: {"label": "...", "workerComment"?: "..."}}
 *   crowd-image-classifier-multi-select  {name: {"labels": [...]}}
 *
 * Keyboard: Tab into the options, arrows move, Space/Enter choose; digits 1-9 and 0 pick the n-th category
 * (on the first classifier of the page, when no text field has focus).
 */
(function () {
  'use strict';
  const TC = window.TruthloopCrowd;
  if (!TC || customElements.get('crowd-classifier')) return;

  const css = `
    .options { display: flex; flex-direction: column; }
    .options .option .text { flex: 1; }
    .exclusion { margin-top: 10px; padding-top: 10px; border-top: 1px dashed #cbd5e1; }
    .exclusion:empty { display: none; }
    .target[hidden] { display: none; }
    .target { font-size: 16px; line-height: 1.55; padding: 14px 16px; background: #f8fafc; border-radius: 8px;
              border: 1px solid #e2e8f0; white-space: normal; overflow-wrap: anywhere; }
    .stage { position: relative; display: inline-block; max-width: 100%; line-height: 0; background: #f1f5f9;
             border-radius: 8px; overflow: hidden; }
    .stage img { max-width: 100%; max-height: 70vh; display: block; }
    .stage svg { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
    .stage .seg { position: absolute; inset: 0; width: 100%; height: 100%; opacity: .45; }
    .comment { margin-top: 12px; }
    .comment textarea { width: 100%; font: inherit; padding: 8px; border: 1px solid #cbd5e1; border-radius: 6px; }
    .comment[hidden] { display: none; }
    .side-title { font-size: 13px; font-weight: 700; color: #475569; margin-bottom: 4px; }
    .fp.compact .options { flex-direction: row; flex-wrap: wrap; gap: 8px; }
    .fp.compact .options .option { width: auto; margin: 0; }
    .fp.compact .side-title { display: none; }
    .fp.compact { margin-bottom: 14px; }
  `;

  const CLASSIFIER_TAGS = 'crowd-classifier, crowd-classifier-multi-select, crowd-image-classifier, crowd-image-classifier-multi-select';
  const categoryText = (c) => (c && typeof c === 'object' ? String(c.text != null ? c.text : c.label != null ? c.label : c.name) : String(c));

  class Classifier extends TC.FullPage {
    static get multi() {
      return false;
    }

    static get image() {
      return false;
    }

    setup() {
      const multi = this.constructor.multi;
      const image = this.constructor.image;
      const work = image
        ? '<div class="stage"><img alt="Image to classify"><img class="seg" alt="" hidden><svg aria-hidden="true"></svg></div>'
        : '<div class="target"><slot name="target"></slot></div>';
      const side = `<div class="side-title">${multi ? 'Choose all that apply' : 'Choose one'}</div>
        <div class="options" role="${multi ? 'group' : 'radiogroup'}"></div><div class="exclusion"></div>
        <div class="comment" hidden><button type="button" class="link add-comment"></button>
          <textarea rows="3" hidden aria-label="Comment"></textarea></div>`;
      this.buildLayout({ work, side, css });
      this.selected = new Set();
      this.exclusionChosen = false;
      if (this._categories == null) this._categories = this.literalAttr('categories', []);
      const exclusion = this.getAttribute('exclusion-category');
      this.exclusion = exclusion == null ? null : categoryText(this.literalAttr('exclusion-category', exclusion));
      if (image) this.setupImage();
      this.renderOptions();
      TC.whenParsed(() => {
        this.setupComment();
        const target = this.$('.target');
        if (target) target.hidden = !Array.from(this.children).some((c) => c.localName === 'classification-target');
      });
      this.keyHandler = (event) => this.onGlobalKey(event);
      document.addEventListener('keydown', this.keyHandler);
    }

    setupImage() {
      const img = this.$('.stage img');
      const src = TC.safeUrl(this.getAttribute('src'));
      if (src) img.src = src;
      img.addEventListener('load', () => this.drawOverlay());
      if (img.complete && img.naturalWidth) this.drawOverlay();
    }

    drawOverlay() {
      const overlay = this.literalAttr('overlay', null);
      const img = this.$('.stage img');
      const svg = this.$('.stage svg');
      svg.setAttribute('viewBox', '0 0 ' + img.naturalWidth + ' ' + img.naturalHeight);
      svg.innerHTML = '';
      if (!overlay || typeof overlay !== 'object') return;
      const boxes = overlay.boundingBox;
      if (boxes && Array.isArray(boxes.value)) {
        const labels = Array.isArray(boxes.labels) ? boxes.labels : [];
        const ns = 'http://www.w3.org/2000/svg';
        for (const box of boxes.value) {
          const color = TC.color(Math.max(0, labels.indexOf(box.label)));
          const rect = document.createElementNS(ns, 'rect');
          for (const [k, v] of Object.entries({ x: box.left, y: box.top, width: box.width, height: box.height })) rect.setAttribute(k, String(Number(v) || 0));
          rect.setAttribute('fill', color + '22');
          rect.setAttribute('stroke', color);
          rect.setAttribute('stroke-width', String(Math.max(2, img.naturalWidth / 250)));
          svg.appendChild(rect);
          const text = document.createElementNS(ns, 'text');
          text.setAttribute('x', String((Number(box.left) || 0) + 4));
          text.setAttribute('y', String(Math.max(14, (Number(box.top) || 0) - 4)));
          text.setAttribute('fill', color);
          text.setAttribute('font-size', String(Math.max(14, img.naturalWidth / 40)));
          text.setAttribute('font-weight', '700');
          text.textContent = box.label || '';
          svg.appendChild(text);
        }
      }
      const seg = overlay.semanticSegmentation;
      const segSrc = seg && TC.safeUrl(seg.src);
      if (segSrc) {
        const el = this.$('.stage .seg');
        el.src = segSrc;
        el.hidden = false;
      }
    }

    setupComment() {
      const region = Array.from(this.children).find((c) => c.localName === 'worker-comment');
      if (!region || !this.constructor.image) return;
      const box = this.$('.comment');
      const button = this.$('.add-comment');
      const area = this.$('.comment textarea');
      box.hidden = false;
      button.textContent = region.getAttribute('link-text') || 'Add a comment';
      area.placeholder = region.getAttribute('placeholder') || region.textContent.trim();
      button.addEventListener('click', () => {
        area.hidden = false;
        area.focus();
      });
    }

    get categories() {
      return this._categories || [];
    }

    set categories(list) {
      this._categories = Array.isArray(list) ? list : [];
      if (this.shadowRoot && this.selected) {
        this.selected.clear();
        this.renderOptions();
      }
    }

    renderOptions() {
      const multi = this.constructor.multi;
      const box = this.$('.options');
      box.innerHTML = '';
      this.categories.forEach((category, index) => box.appendChild(this.optionButton(categoryText(category), index)));
      const exclusionBox = this.$('.exclusion');
      exclusionBox.innerHTML = '';
      if (multi && this.exclusion != null) exclusionBox.appendChild(this.optionButton(this.exclusion, -1));
      this.refresh();
    }

    optionButton(text, index) {
      const multi = this.constructor.multi;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'option' + (multi ? ' multi' : '');
      b.setAttribute('role', multi ? 'checkbox' : 'radio');
      b.dataset.index = String(index);
      // digit shortcuts belong to the page's first classifier only (see onGlobalKey)
      const first = document.querySelector(CLASSIFIER_TAGS) === this;
      const shortcut = first && index >= 0 && index < 10 ? String((index + 1) % 10) : '';
      b.innerHTML = '<span class="mark" aria-hidden="true"></span><span class="text"></span>' + (shortcut ? '<span class="kbd" aria-hidden="true">' + shortcut + '</span>' : '');
      b.querySelector('.text').textContent = text;
      b.addEventListener('click', () => this.choose(index));
      b.addEventListener('keydown', (event) => this.onOptionKey(event, b));
      return b;
    }

    onOptionKey(event, button) {
      const all = this.$$('.option');
      const i = all.indexOf(button);
      if (event.key === 'ArrowDown' || event.key === 'ArrowRight') all[(i + 1) % all.length].focus();
      else if (event.key === 'ArrowUp' || event.key === 'ArrowLeft') all[(i - 1 + all.length) % all.length].focus();
      else return;
      event.preventDefault();
    }

    onGlobalKey(event) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || !/^[0-9]$/.test(event.key)) return;
      const path = event.composedPath();
      if (path.some((el) => el instanceof HTMLElement && (el.isContentEditable || /^(input|textarea|select)$/.test(el.localName)))) return;
      if (document.querySelector(CLASSIFIER_TAGS) !== this) return;
      const index = (Number(event.key) + 9) % 10;
      if (index < this.categories.length) {
        this.choose(index);
        event.preventDefault();
      }
    }

    choose(index) {
      if (this.disabled) return;
      if (!this.constructor.multi) {
        this.selected = new Set([index]);
      } else if (index === -1) {
        this.exclusionChosen = !this.exclusionChosen;
        if (this.exclusionChosen) this.selected.clear();
      } else {
        this.exclusionChosen = false;
        if (this.selected.has(index)) this.selected.delete(index);
        else this.selected.add(index);
      }
      this.refresh();
      this.changed();
    }

    refresh() {
      for (const b of this.$$('.option')) {
        const index = Number(b.dataset.index);
        const on = index === -1 ? this.exclusionChosen : this.selected.has(index);
        b.setAttribute('aria-checked', String(on));
      }
    }

    get value() {
      const chosen = Array.from(this.selected).sort((a, b) => a - b).map((i) => categoryText(this.categories[i]));
      if (this.constructor.multi) return { labels: this.exclusionChosen ? [this.exclusion] : chosen };
      const out = chosen.length ? { label: chosen[0] } : {};
      const comment = this.shadowRoot && this.$('.comment textarea');
      if (comment && comment.value.trim()) out.workerComment = comment.value;
      return out;
    }

    set value(v) {
      if (!v || typeof v !== 'object') return;
      const names = this.categories.map(categoryText);
      const wanted = this.constructor.multi ? v.labels || [] : v.label != null ? [v.label] : [];
      this.selected = new Set(wanted.map((l) => names.indexOf(l)).filter((i) => i >= 0));
      this.exclusionChosen = this.constructor.multi && this.exclusion != null && wanted.includes(this.exclusion);
      if (this.shadowRoot) this.refresh();
    }

    reset() {
      this.selected.clear();
      this.exclusionChosen = false;
      this.refresh();
    }

    contribute(answer) {
      const name = this.getAttribute('name');
      if (name) answer[name] = this.value;
    }

    validate() {
      if (this.selected.size || this.exclusionChosen) return null;
      return this.constructor.multi ? 'Choose at least one category.' : 'Choose a category.';
    }

    focusFirst() {
      const first = this.$('.option');
      if (first) first.focus();
    }

    disconnectedCallback() {
      if (this.keyHandler) document.removeEventListener('keydown', this.keyHandler);
    }
  }

  class CrowdClassifier extends Classifier {}
  class CrowdClassifierMultiSelect extends Classifier {
    static get multi() {
      return true;
    }
  }
  class CrowdImageClassifier extends Classifier {
    static get image() {
      return true;
    }
  }
  class CrowdImageClassifierMultiSelect extends Classifier {
    static get multi() {
      return true;
    }

    static get image() {
      return true;
    }
  }
  TC.define('crowd-classifier', CrowdClassifier);
  TC.define('crowd-classifier-multi-select', CrowdClassifierMultiSelect);
  TC.define('crowd-image-classifier', CrowdImageClassifier);
  TC.define('crowd-image-classifier-multi-select', CrowdImageClassifierMultiSelect);
  TC.Classifier = Classifier;
})();
