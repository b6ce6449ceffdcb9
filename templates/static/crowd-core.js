/*
 * truthloop offline crowd elements: the shared core.
 *
 * Plain JavaScript, no build step, no network. Load order: crowd-core.js first, then the element files.
 * Provides window.TruthloopCrowd: a tolerant attribute parser, the base element class, answer collection
 * (the crowd-form answer shape of aws-contracts.md section 11) and submission (POST JSON to the URL in
 * <meta name="truthloop-submit-url">, header X-Truthloop-CSRF from <meta name="truthloop-csrf">).
 */
(function () {
  'use strict';
  if (window.TruthloopCrowd) return;
  const TC = (window.TruthloopCrowd = {});

  /* ------------------------------------------------------------------ tolerant literal parser */

  // AWS templates write attribute values as JSON *or* as JavaScript literals:
  //   categories="['Cat', 'Dog']"   exclusion-category="{ text: 'None of the above' }"
  //   categories='[{ name: "Gore", parentName: "Violence", }, ]'
  // parseLiteral accepts JSON plus single-quoted strings, bare keys, trailing commas and comments.
  // It never evaluates code.
  TC.parseLiteral = function parseLiteral(text) {
    let i = 0;
    const s = String(text);
    const fail = (what) => {
      throw new SyntaxError(what + ' at character ' + i + ' of ' + JSON.stringify(s.slice(0, 80)));
    };
    const ws = () => {
      for (;;) {
        while (i < s.length && /\s/.test(s[i])) i++;
        if (s.startsWith('//', i)) {
          while (i < s.length && s[i] !== '\n') i++;
        } else if (s.startsWith('/*', i)) {
          const end = s.indexOf('*/', i + 2);
          i = end < 0 ? s.length : end + 2;
        } else return;
      }
    };
    const str = () => {
      const q = s[i++];
      let out = '';
      while (i < s.length && s[i] !== q) {
        let c = s[i++];
        if (c === '\\') {
          c = s[i++];
          const map = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', 0: '\0' };
          if (c === 'u') {
            out += String.fromCharCode(parseInt(s.slice(i, i + 4), 16));
            i += 4;
          } else if (c === 'x') {
            out += String.fromCharCode(parseInt(s.slice(i, i + 2), 16));
            i += 2;
          } else if (c === '\n') {
            /* line continuation */
          } else out += c in map ? map[c] : c;
        } else out += c;
      }
      if (s[i] !== q) fail('unterminated string');
      i++;
      return out;
    };
    const ident = () => {
      const m = /^[A-Za-z_$][\w$-]*/.exec(s.slice(i));
      if (!m) fail('unexpected character ' + JSON.stringify(s[i] || 'end of text'));
      i += m[0].length;
      return m[0];
    };
    const value = () => {
      ws();
      const c = s[i];
      if (c === '{') {
        i++;
        const obj = {};
        for (;;) {
          ws();
          if (s[i] === '}') {
            i++;
            return obj;
          }
          const key = s[i] === '"' || s[i] === "'" ? str() : ident();
          ws();
          if (s[i++] !== ':') fail('expected ":"');
          obj[key] = value();
          ws();
          if (s[i] === ',') i++;
          else if (s[i] !== '}') fail('expected "," or "}"');
        }
      }
      if (c === '[') {
        i++;
        const arr = [];
        for (;;) {
          ws();
          if (s[i] === ']') {
            i++;
            return arr;
          }
          arr.push(value());
          ws();
          if (s[i] === ',') i++;
          else if (s[i] !== ']') fail('expected "," or "]"');
        }
      }
      if (c === '"' || c === "'") return str();
      const num = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/.exec(s.slice(i));
      if (num) {
        i += num[0].length;
        return Number(num[0]);
      }
      const word = ident();
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'null' || word === 'undefined') return null;
      fail('unexpected word ' + JSON.stringify(word));
      return null;
    };
    const result = value();
    ws();
    if (i < s.length) fail('unexpected trailing text');
    return result;
  };

  /* ------------------------------------------------------------------ small helpers */

  TC.escapeHtml = (text) =>
    String(text == null ? '' : text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

  // URLs a worker page may load or open: http(s), relative, blob:, data:image/. Anything else (javascript:) is dropped.
  TC.safeUrl = (url) => {
    const u = String(url == null ? '' : url).trim();
    if (!u) return '';
    if (/^(https?:|blob:|data:image\/)/i.test(u)) return u;
    if (/^[a-z][a-z0-9+.-]*:/i.test(u)) return '';
    return u;
  };

  // Label colours: dark enough for white text (WCAG AA, 4.5:1) and for outlines on photos.
  TC.COLORS = ['#1d4ed8', '#b91c1c', '#15803d', '#b45309', '#7e22ce', '#0e7490', '#be185d', '#4d7c0f', '#6d28d9', '#c2410c'];
  TC.color = (index) => TC.COLORS[((index % TC.COLORS.length) + TC.COLORS.length) % TC.COLORS.length];
  // A label that names a colour ("red", "blue car", "Light-Green") is drawn in that colour.
  TC.NAMED_COLORS = {
    red: '#dc2626', blue: '#2563eb', green: '#16a34a', yellow: '#facc15', orange: '#ea580c', purple: '#9333ea',
    violet: '#7c3aed', pink: '#db2777', magenta: '#c026d3', cyan: '#06b6d4', teal: '#0d9488', brown: '#92400e',
    black: '#111827', white: '#f8fafc', gray: '#6b7280', grey: '#6b7280',
  };
  TC.labelColor = (label, index) => {
    const words = String(label == null ? '' : label).toLowerCase().match(/[a-z]+/g) || [];
    for (const word of words) if (Object.prototype.hasOwnProperty.call(TC.NAMED_COLORS, word)) return TC.NAMED_COLORS[word];
    return TC.color(index);
  };
  // The text colour (white or near-black) with the higher contrast on background ``hex`` (#rrggbb).
  TC.textOn = (hex) => {
    const c = /^#?([0-9a-f]{6})$/i.exec(String(hex));
    if (!c) return '#fff';
    const lin = (i) => {
      const v = parseInt(c[1].slice(i, i + 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    const lum = 0.2126 * lin(0) + 0.7152 * lin(2) + 0.0722 * lin(4);
    return 1.05 / (lum + 0.05) >= (lum + 0.05) / (0.0134 + 0.05) ? '#fff' : '#111827';
  };

  // Offsets: DOM strings are UTF-16; answers count Unicode code points (aws-contracts.md section 11).
  TC.codePointLength = (text) => Array.from(text).length;
  TC.utf16ToCodePoint = (text, u16) => Array.from(text.slice(0, u16)).length;
  TC.codePointToUtf16 = (text, cp) => Array.from(text).slice(0, cp).join('').length;

  TC.whenParsed = (fn) => {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', fn, { once: true });
    else fn();
  };

  TC.meta = (name) => {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') : null;
  };

  TC.define = (name, cls) => {
    if (!customElements.get(name)) customElements.define(name, cls);
  };

  /* ------------------------------------------------------------------ shared shadow styles */

  TC.baseCss = `
    :host { font-family: var(--tl-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif); color: #1f2937;
            box-sizing: border-box; }
    :host([hidden]) { display: none !important; }
    *, *::before, *::after { box-sizing: inherit; }
    button { font: inherit; cursor: pointer; border-radius: 6px; border: 1px solid #cbd5e1; background: #fff;
             padding: 6px 12px; color: inherit; }
    button:hover:not(:disabled) { background: #f1f5f9; }
    button:focus-visible, [tabindex]:focus-visible, input:focus-visible, textarea:focus-visible {
      outline: 3px solid #93c5fd; outline-offset: 1px; }
    button:disabled { opacity: .5; cursor: not-allowed; }
    button.primary { background: #1d4ed8; border-color: #1d4ed8; color: #fff; font-weight: 600; }
    button.primary:hover:not(:disabled) { background: #1e40af; }
    .error { color: #b91c1c; font-size: 13px; min-height: 0; }
    .error:empty { display: none; }
    .muted { color: #475569; font-size: 13px; }
    .chip { display: inline-flex; align-items: center; gap: 6px; padding: 2px 8px; border-radius: 999px;
            font-size: 12px; font-weight: 600; color: #fff; }
    .kbd { display: inline-block; min-width: 18px; padding: 0 4px; border: 1px solid #cbd5e1; border-radius: 4px;
           font-size: 11px; color: #475569; background: #f8fafc; text-align: center; }
    .option { display: flex; align-items: center; gap: 10px; width: 100%; text-align: left; margin: 4px 0;
              padding: 8px 10px; background: #fff; }
    .option[aria-checked="true"], .option[aria-pressed="true"] { border-color: #1d4ed8; background: #eff6ff;
              box-shadow: inset 0 0 0 1px #1d4ed8; }
    .option .mark { width: 16px; height: 16px; border: 2px solid #94a3b8; border-radius: 50%; flex: none; }
    .option.multi .mark { border-radius: 4px; }
    .option[aria-checked="true"] .mark { border-color: #1d4ed8; background: radial-gradient(#1d4ed8 45%, transparent 50%); }
    .option.multi[aria-checked="true"] .mark { background: #1d4ed8; }
  `;
  TC.sheet = (css) => {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    return sheet;
  };
  TC.baseSheet = TC.sheet(TC.baseCss);

  /* ------------------------------------------------------------------ base element */

  class CrowdElement extends HTMLElement {
    // Properties a template may set before the element upgrades (they would shadow our accessors).
    static get upgradeProperties() {
      return ['value', 'labels', 'checked', 'disabled', 'categories'];
    }

    connectedCallback() {
      if (this._connected) return;
      this._connected = true;
      for (const prop of this.constructor.upgradeProperties) {
        if (Object.prototype.hasOwnProperty.call(this, prop)) {
          const v = this[prop];
          delete this[prop];
          this._pendingProps = this._pendingProps || {};
          this._pendingProps[prop] = v;
        }
      }
      this.setup();
      if (this._pendingProps) {
        for (const [k, v] of Object.entries(this._pendingProps)) this[k] = v;
        this._pendingProps = null;
      }
    }

    setup() {}

    shadow(html, css, options) {
      const root = this.shadowRoot || this.attachShadow(Object.assign({ mode: 'open' }, options || {}));
      root.adoptedStyleSheets = css ? [TC.baseSheet, TC.sheet(css)] : [TC.baseSheet];
      root.innerHTML = html;
      return root;
    }

    $(selector) {
      return this.shadowRoot.querySelector(selector);
    }

    $$(selector) {
      return Array.from(this.shadowRoot.querySelectorAll(selector));
    }

    literalAttr(name, fallback) {
      const raw = this.getAttribute(name);
      if (raw == null || raw.trim() === '') return fallback;
      try {
        return TC.parseLiteral(raw);
      } catch (err) {
        console.error('<' + this.localName + '> attribute "' + name + '" is not valid JSON: ' + err.message);
        return fallback;
      }
    }

    boolAttr(name) {
      const v = this.getAttribute(name);
      return v != null && v !== 'false';
    }

    numAttr(name, fallback) {
      const v = this.getAttribute(name);
      const n = v == null || v === '' ? NaN : Number(v);
      return Number.isFinite(n) ? n : fallback;
    }

    get disabled() {
      return this.hasAttribute('disabled');
    }

    set disabled(v) {
      this.toggleAttribute('disabled', !!v);
    }

    // Fire a bubbling change event (templates listen for it to react to a worker's choice).
    changed() {
      this.dispatchEvent(new Event('change', { bubbles: true, composed: true }));
      this.setError('');
    }

    setError(message) {
      const box = this.shadowRoot && this.shadowRoot.querySelector('.error');
      if (box) box.textContent = message || '';
      this.toggleAttribute('invalid', !!message);
    }

    // Answer contributors override these three.
    contribute(_answer) {}
    validate() {
      return null;
    }
    focusFirst() {
      const target = this.shadowRoot && this.shadowRoot.querySelector('button, input, textarea, [tabindex]');
      (target || this).focus();
    }
  }
  TC.CrowdElement = CrowdElement;
  TC.isContributor = (el) => el instanceof CrowdElement && el.answers === true;

  /* ------------------------------------------------------------------ answer collection */

  const inert = (el, root) => {
    for (let node = el; node && node !== root.parentNode; node = node.parentElement) {
      if (node.hasAttribute && node.hasAttribute('disabled') && (node === el || node.localName === 'fieldset' || node.localName.startsWith('crowd-'))) {
        return true;
      }
    }
    return false;
  };

  const nativeContribute = (el, answer) => {
    const name = el.getAttribute('name');
    if (!name) return;
    const tag = el.localName;
    const type = (el.getAttribute('type') || '').toLowerCase();
    if (tag === 'input' && ['submit', 'button', 'reset', 'image', 'file'].includes(type)) return;
    if (tag === 'input' && (type === 'checkbox' || type === 'radio')) {
      // Same shape as crowd-checkbox / crowd-radio-button: {name: {value: bool}}, merged per name.
      const bucket = answer[name] && typeof answer[name] === 'object' ? answer[name] : (answer[name] = {});
      bucket[el.value || 'on'] = el.checked;
      return;
    }
    if (tag === 'select' && el.multiple) {
      answer[name] = Array.from(el.selectedOptions).map((o) => o.value);
      return;
    }
    if (tag === 'textarea') {
      answer[name] = el.value;
      return;
    }
    if (el.value !== '') answer[name] = el.value; // like crowd-input: left out when empty
  };

  TC.collect = (root) => {
    const answer = {};
    for (const el of root.querySelectorAll('*')) {
      if (inert(el, root)) continue;
      if (TC.isContributor(el)) el.contribute(answer);
      else if (el.matches('input, select, textarea')) nativeContribute(el, answer);
    }
    return answer;
  };

  TC.validate = (root) => {
    const problems = [];
    for (const el of root.querySelectorAll('*')) {
      if (!TC.isContributor(el) || inert(el, root)) continue;
      const message = el.validate();
      el.setError(message || '');
      if (message) problems.push({ el, message });
    }
    for (const el of root.querySelectorAll('input, select, textarea')) {
      if (inert(el, root) || el.checkValidity()) continue;
      problems.push({ el, message: el.validationMessage });
    }
    return problems;
  };

  /* ------------------------------------------------------------------ banners */

  TC.banner = (host, type, message) => {
    let box = document.getElementById('truthloop-banner');
    if (!box) {
      box = document.createElement('div');
      box.id = 'truthloop-banner';
      box.setAttribute('role', 'status');
      box.setAttribute('aria-live', 'polite');
      document.body.prepend(box);
    }
    box.className = 'truthloop-banner truthloop-banner-' + type;
    box.textContent = message;
    box.hidden = !message;
    if (message && type === 'error') box.setAttribute('role', 'alert');
    return box;
  };

  /* ------------------------------------------------------------------ submission */

  TC.state = { submitting: false, submitted: false, invalid: null };

  TC.problemsMessage = (problems) =>
    problems.length === 1
      ? problems[0].message
      : 'Please fix ' + problems.length + ' problems before submitting: ' + problems.map((p) => p.message).join(' · ');

  // After a refused submit, every change re-checks the answers: the banner shrinks to what is left and goes
  // away once everything is fixed (it does not wait for the next Submit).
  const recheck = () => {
    const invalid = TC.state.invalid;
    if (!invalid || TC.state.submitting || TC.state.submitted) return;
    const problems = TC.validate(invalid.root);
    if (problems.length) TC.banner(invalid.target, 'error', TC.problemsMessage(problems));
    else {
      TC.state.invalid = null;
      TC.banner(invalid.target, 'info', '');
    }
  };
  document.addEventListener('change', recheck, true);
  document.addEventListener('input', recheck, true);

  const setSubmitButtons = (disabled) => {
    document.querySelectorAll('*').forEach((el) => {
      if (typeof el.setSubmitDisabled === 'function') el.setSubmitDisabled(disabled);
    });
  };

  // The element that owns submission for `source`: its crowd-form, else the top-level full-page element.
  TC.formFor = (source) => {
    if (source) {
      const host = source.getRootNode && source.getRootNode().host;
      const form = (source.closest && source.closest('crowd-form')) || (host && host.closest('crowd-form'));
      if (form) return form;
    }
    return document.querySelector('crowd-form') || null;
  };

  TC.submit = async (source) => {
    if (TC.state.submitting || TC.state.submitted) return null;
    const form = TC.formFor(source);
    const target = form || source || document.body;
    const root = form || document.body;
    const ev = new Event('submit', { bubbles: true, cancelable: true });
    if (!target.dispatchEvent(ev)) return null; // the template's onsubmit called preventDefault()
    const problems = TC.validate(root);
    if (problems.length) {
      TC.banner(target, 'error', TC.problemsMessage(problems));
      TC.state.invalid = { target, root }; // the banner follows the worker's fixes (see below)
      const first = problems[0].el;
      if (typeof first.focusFirst === 'function') first.focusFirst();
      else first.focus();
      return null;
    }
    const answer = TC.collect(root);
    TC.lastAnswer = answer;
    target.dispatchEvent(new CustomEvent('crowd-submit', { detail: answer, bubbles: true, composed: true }));
    const url = TC.meta('truthloop-submit-url');
    if (!url) {
      TC.banner(target, 'success', 'Answer collected (no submit URL configured for this page).');
      return answer;
    }
    TC.state.invalid = null;
    TC.state.submitting = true;
    setSubmitButtons(true);
    TC.banner(target, 'info', 'Submitting…');
    try {
      const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
      const csrf = TC.meta('truthloop-csrf');
      if (csrf) headers['X-Truthloop-CSRF'] = csrf;
      const response = await fetch(url, { method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify(answer) });
      let body = null;
      try {
        body = await response.json();
      } catch (_err) {
        body = null;
      }
      if (!response.ok) {
        const reason = body && (body.message || body.error) ? body.message || body.error : response.statusText;
        throw new Error('HTTP ' + response.status + (reason ? ': ' + reason : ''));
      }
      TC.state.submitted = true;
      if (body && typeof body.next === 'string' && body.next) {
        TC.banner(target, 'success', 'Submitted. Loading the next task…');
        window.location.assign(body.next);
      } else {
        TC.banner(target, 'success', 'Submitted. Thank you!');
      }
      return answer;
    } catch (err) {
      TC.banner(target, 'error', 'Submission failed (' + err.message + '). Your answer is still here; try again.');
      setSubmitButtons(false);
      return null;
    } finally {
      TC.state.submitting = false;
      if (!TC.state.submitted) setSubmitButtons(false);
    }
  };

  /* ------------------------------------------------------------------ ready event */

  // AWS's library fires this once every crowd element is defined; templates hook their scripts on it.
  TC.whenParsed(() => {
    setTimeout(() => {
      TC.ready = true;
      document.dispatchEvent(new Event('all-crowd-elements-ready', { bubbles: true }));
    }, 0);
  });
})();
