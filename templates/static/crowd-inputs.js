/*
 * truthloop offline crowd elements: form inputs.
 *
 * Answer shapes (aws-contracts.md section 11):
 *   crowd-input          {name: "text"}            left out when empty
 *   crowd-text-area      {name: "text"}
 *   crowd-checkbox       {name: {value: bool}}     boxes sharing a name merge into one object
 *   crowd-radio-button   {name: {value: bool}}     one entry per button
 *   crowd-toggle-button  {name: {value: bool}}     value defaults to "on"
 *   crowd-slider         {name: number}
 */
(function () {
  'use strict';
  const TC = window.TruthloopCrowd;
  if (!TC || customElements.get('crowd-input')) return;

  const fieldCss = `
    :host { display: block; margin: 8px 0; }
    label.wrap { display: flex; flex-direction: column; gap: 4px; }
    .label { font-size: 13px; font-weight: 600; color: #334155; }
    .label:empty { display: none; }
    input, textarea { font: inherit; padding: 8px 10px; border: 1px solid #cbd5e1; border-radius: 6px; width: 100%;
                      background: #fff; color: inherit; }
    textarea { resize: vertical; line-height: 1.45; }
    :host([invalid]) input, :host([invalid]) textarea { border-color: #dc2626; }
    input:disabled, textarea:disabled { background: #f1f5f9; }
    .counter { font-size: 12px; color: #475569; text-align: right; }
  `;

  const TEXT_TYPES = ['text', 'number', 'email', 'password', 'url', 'tel', 'date', 'time', 'datetime-local', 'month', 'week', 'search', 'color'];

  // Shared by crowd-input and crowd-text-area.
  class TextField extends TC.CrowdElement {
    get answers() {
      return true;
    }

    static get observedAttributes() {
      return ['disabled', 'label', 'placeholder'];
    }

    attributeChangedCallback() {
      if (this.field) this.syncAttributes();
    }

    syncAttributes() {
      this.$('.label').textContent = this.getAttribute('label') || '';
      this.field.placeholder = this.getAttribute('placeholder') || '';
      this.field.disabled = this.disabled;
    }

    wire(field) {
      this.field = field;
      if (this._value != null) field.value = this._value;
      else if (this.hasAttribute('value')) field.value = this.getAttribute('value');
      const max = this.numAttr('max-length', null);
      if (max != null) field.maxLength = max;
      const min = this.numAttr('min-length', null);
      if (min != null) field.minLength = min;
      field.required = this.hasAttribute('required');
      const pattern = this.getAttribute('allowed-pattern');
      if (pattern) {
        let re = null;
        try {
          re = new RegExp('^(?:' + pattern + ')$');
        } catch (_err) {
          console.error('<' + this.localName + '> allowed-pattern is not a valid regular expression: ' + pattern);
        }
        if (re) {
          field.addEventListener('beforeinput', (event) => {
            if (event.data && !Array.from(event.data).every((ch) => re.test(ch))) event.preventDefault();
          });
        }
      }
      field.addEventListener('input', () => {
        this.updateCounter();
        if (this.hasAttribute('auto-validate')) this.setError(this.validate() || '');
        else this.setError('');
      });
      field.addEventListener('change', () => this.dispatchEvent(new Event('change', { bubbles: true, composed: true })));
      this.syncAttributes();
      this.updateCounter();
      if (this.hasAttribute('auto-focus')) TC.whenParsed(() => field.focus());
    }

    updateCounter() {}

    get value() {
      return this.field ? this.field.value : this._value != null ? this._value : this.getAttribute('value') || '';
    }

    set value(v) {
      const text = v == null ? '' : String(v);
      if (this.field) {
        this.field.value = text;
        this.updateCounter();
      } else this._value = text;
    }

    reset() {
      this.value = this.getAttribute('value') || '';
    }

    validate() {
      if (!this.field) return null;
      const custom = this.getAttribute('error-message');
      const label = this.getAttribute('label') || this.getAttribute('name') || 'This field';
      if (this.hasAttribute('required') && this.value.trim() === '') return custom || label + ' is required.';
      if (this.value !== '' && !this.field.checkValidity()) return custom || label + ': ' + this.field.validationMessage;
      return null;
    }

    focusFirst() {
      this.field.focus();
    }
  }

  class CrowdInput extends TextField {
    setup() {
      this.shadow('<label class="wrap"><span class="label"></span><input part="input"></label><div class="error" role="alert"></div>', fieldCss, { delegatesFocus: true });
      const input = this.$('input');
      const type = (this.getAttribute('type') || 'text').toLowerCase();
      input.type = TEXT_TYPES.includes(type) ? type : 'text';
      if (this.hasAttribute('min')) input.min = this.getAttribute('min');
      if (this.hasAttribute('max')) input.max = this.getAttribute('max');
      if (this.hasAttribute('step')) input.step = this.getAttribute('step');
      input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') event.preventDefault(); // never submit a task by accident
      });
      this.wire(input);
    }

    contribute(answer) {
      const name = this.getAttribute('name');
      if (name && this.value !== '') answer[name] = this.value;
    }
  }
  TC.define('crowd-input', CrowdInput);

  class CrowdTextArea extends TextField {
    setup() {
      this.shadow('<label class="wrap"><span class="label"></span><textarea part="textarea"></textarea></label><div class="counter" hidden></div><div class="error" role="alert"></div>', fieldCss, { delegatesFocus: true });
      const area = this.$('textarea');
      area.rows = this.numAttr('rows', 3);
      this.maxRows = this.numAttr('max-rows', 0);
      area.addEventListener('input', () => this.grow());
      this.wire(area);
      this.$('.counter').hidden = !this.hasAttribute('char-counter');
      this.grow();
    }

    grow() {
      if (!this.maxRows) return;
      const area = this.field;
      const lines = area.value.split('\n').length;
      area.rows = Math.max(this.numAttr('rows', 3), Math.min(this.maxRows, lines));
    }

    updateCounter() {
      const counter = this.$('.counter');
      if (!counter || counter.hidden) return;
      const max = this.numAttr('max-length', null);
      counter.textContent = TC.codePointLength(this.value) + (max != null ? ' / ' + max : '');
    }

    contribute(answer) {
      const name = this.getAttribute('name');
      if (name) answer[name] = this.value;
    }
  }
  TC.define('crowd-text-area', CrowdTextArea);

  /* ------------------------------------------------------------------ checkbox, toggle */

  const boolObject = (answer, name, key, on) => {
    if (!name) return;
    const bucket = answer[name] && typeof answer[name] === 'object' && !Array.isArray(answer[name]) ? answer[name] : (answer[name] = {});
    bucket[key] = on;
  };

  const checkCss = `
    :host { display: block; margin: 4px 0; }
    label { display: inline-flex; align-items: center; gap: 8px; cursor: pointer; }
    input { width: 18px; height: 18px; accent-color: #1d4ed8; margin: 0; }
    :host([disabled]) label { opacity: .55; cursor: not-allowed; }
  `;

  /** What a checkbox and a toggle share: one on/off value, under the `value` attribute (default "on") of `name`. */
  class CrowdOnOff extends TC.CrowdElement {
    get answers() {
      return true;
    }

    reset() {
      this.checked = this.hasAttribute('checked');
    }

    contribute(answer) {
      boolObject(answer, this.getAttribute('name'), this.getAttribute('value') || 'on', this.checked);
    }
  }

  class CrowdCheckbox extends CrowdOnOff {
    setup() {
      this.shadow('<label><input type="checkbox"><slot></slot></label><div class="error" role="alert"></div>', checkCss, { delegatesFocus: true });
      const box = this.$('input');
      box.checked = this._checked != null ? this._checked : this.hasAttribute('checked');
      box.disabled = this.disabled;
      box.addEventListener('change', () => this.changed());
    }

    get checked() {
      return this.shadowRoot ? this.$('input').checked : !!this._checked;
    }

    set checked(v) {
      if (this.shadowRoot) this.$('input').checked = !!v;
      else this._checked = !!v;
    }

    validate() {
      return this.hasAttribute('required') && !this.checked ? (this.textContent.trim() || 'This box') + ' must be checked.' : null;
    }
  }
  TC.define('crowd-checkbox', CrowdCheckbox);

  class CrowdToggleButton extends CrowdOnOff {
    setup() {
      this.shadow(
        '<button type="button" role="switch" aria-checked="false"><span class="track"><span class="knob"></span></span><slot></slot></button><div class="error" role="alert"></div>',
        `:host { display: block; margin: 4px 0; }
         button { display: inline-flex; align-items: center; gap: 10px; border: none; background: none; padding: 4px 0; }
         button:hover:not(:disabled) { background: none; }
         .track { width: 38px; height: 22px; border-radius: 999px; background: #cbd5e1; position: relative; transition: background .15s; }
         .knob { position: absolute; top: 3px; left: 3px; width: 16px; height: 16px; border-radius: 50%; background: #fff; transition: left .15s; }
         button[aria-checked="true"] .track { background: #1d4ed8; } button[aria-checked="true"] .knob { left: 19px; }
         :host([invalid]) .track { box-shadow: 0 0 0 2px #dc2626; }`,
        { delegatesFocus: true },
      );
      const button = this.$('button');
      this.checked = this._checked != null ? this._checked : this.hasAttribute('checked');
      button.disabled = this.disabled;
      button.addEventListener('click', () => {
        this.checked = !this.checked;
        this.changed();
      });
    }

    get checked() {
      return this.shadowRoot ? this.$('button').getAttribute('aria-checked') === 'true' : !!this._checked;
    }

    set checked(v) {
      if (this.shadowRoot) this.$('button').setAttribute('aria-checked', String(!!v));
      else this._checked = !!v;
    }

    validate() {
      return this.hasAttribute('required') && !this.checked ? (this.textContent.trim() || 'This switch') + ' must be on.' : null;
    }
  }
  TC.define('crowd-toggle-button', CrowdToggleButton);

  /* ------------------------------------------------------------------ radio group / radio button */

  class CrowdRadioGroup extends TC.CrowdElement {
    get answers() {
      return true; // contributes nothing itself, but validates `required`
    }

    setup() {
      this.setAttribute('role', 'radiogroup');
      this.shadow('<slot></slot><div class="error" role="alert"></div>', ':host { display: block; margin: 6px 0; }');
      this.addEventListener('keydown', (event) => {
        if (!['ArrowDown', 'ArrowRight', 'ArrowUp', 'ArrowLeft'].includes(event.key)) return;
        const buttons = this.buttons().filter((b) => !b.disabled);
        const current = buttons.findIndex((b) => b.matches(':focus-within'));
        if (current < 0) return;
        event.preventDefault();
        const step = event.key === 'ArrowDown' || event.key === 'ArrowRight' ? 1 : -1;
        const next = buttons[(current + step + buttons.length) % buttons.length];
        next.select();
        next.focus();
      });
    }

    buttons() {
      return Array.from(this.querySelectorAll('crowd-radio-button'));
    }

    selectOnly(chosen) {
      for (const b of this.buttons()) if (b !== chosen) b.checked = false;
    }

    contribute() {}

    validate() {
      return this.hasAttribute('required') && !this.buttons().some((b) => b.checked) ? 'Choose one of the options.' : null;
    }

    focusFirst() {
      const first = this.buttons()[0];
      if (first) first.focus();
    }
  }
  TC.define('crowd-radio-group', CrowdRadioGroup);

  class CrowdRadioButton extends TC.CrowdElement {
    get answers() {
      return true;
    }

    setup() {
      this.shadow('<label><input type="radio"><slot></slot></label>', checkCss, { delegatesFocus: true });
      const radio = this.$('input');
      radio.checked = this._checked != null ? this._checked : this.hasAttribute('checked');
      radio.disabled = this.disabled;
      radio.addEventListener('change', () => {
        if (radio.checked) this.select();
      });
    }

    select() {
      this.checked = true;
      const group = this.closest('crowd-radio-group');
      if (group && typeof group.selectOnly === 'function') {
        group.selectOnly(this);
        group.setError('');
      }
      this.changed();
    }

    get checked() {
      return this.shadowRoot ? this.$('input').checked : !!this._checked;
    }

    set checked(v) {
      if (this.shadowRoot) this.$('input').checked = !!v;
      else this._checked = !!v;
    }

    reset() {
      this.checked = this.hasAttribute('checked');
    }

    contribute(answer) {
      boolObject(answer, this.getAttribute('name'), this.getAttribute('value') || 'on', this.checked);
    }
  }
  TC.define('crowd-radio-button', CrowdRadioButton);

  /* ------------------------------------------------------------------ slider */

  class CrowdSlider extends TC.CrowdElement {
    get answers() {
      return true;
    }

    setup() {
      this.shadow(
        `<div class="row"><input type="range" part="range"><output class="pin" hidden></output>
           <input type="number" class="edit" aria-label="Value" hidden></div>
         <div class="ticks" aria-hidden="true"></div><div class="error" role="alert"></div>`,
        `:host { display: block; margin: 10px 0; }
         .row { display: flex; align-items: center; gap: 12px; }
         input[type=range] { flex: 1; accent-color: #1d4ed8; height: 24px; }
         .pin { min-width: 36px; text-align: center; font-weight: 700; padding: 2px 8px; border-radius: 6px;
                background: #eff6ff; color: #1d4ed8; }
         :host(:not([touched])) .pin { color: #475569; background: #f1f5f9; }
         .edit { width: 80px; padding: 4px 6px; border: 1px solid #cbd5e1; border-radius: 6px; font: inherit; }
         .ticks { position: relative; height: 18px; margin-right: 60px; font-size: 12px; color: #475569; }
         .ticks span { position: absolute; transform: translateX(-50%); }
         :host([invalid]) input[type=range] { outline: 2px solid #dc2626; }`,
        { delegatesFocus: true },
      );
      const range = this.$('input[type=range]');
      const edit = this.$('.edit');
      this.min = this.numAttr('min', 0);
      this.max = this.numAttr('max', 100);
      range.min = this.min;
      range.max = this.max;
      range.step = this.getAttribute('step') || '1';
      range.disabled = edit.disabled = this.disabled;
      // the range's accessible name: aria-label/label on the element, else a <label> just before it, else its name
      const before = this.previousElementSibling;
      const name =
        this.getAttribute('aria-label') ||
        this.getAttribute('label') ||
        (before && before.tagName === 'LABEL' ? before.textContent.trim() : '') ||
        this.getAttribute('name') ||
        'Value';
      range.setAttribute('aria-label', name);
      const initial = this._value != null ? this._value : this.numAttr('value', this.min);
      range.value = String(initial);
      if (this.hasAttribute('value') || this._value != null) this.setAttribute('touched', '');
      this.$('.pin').hidden = !this.boolAttr('pin') && !this.hasAttribute('required');
      edit.hidden = !this.boolAttr('editable');
      const sync = () => {
        this.$('.pin').textContent = range.value;
        edit.value = range.value;
        range.setAttribute('aria-valuetext', range.value);
      };
      range.addEventListener('input', () => {
        this.setAttribute('touched', '');
        sync();
        this.setError('');
      });
      range.addEventListener('change', () => this.changed());
      edit.addEventListener('change', () => {
        const n = Math.min(this.max, Math.max(this.min, Number(edit.value)));
        range.value = String(n);
        this.setAttribute('touched', '');
        sync();
        this.changed();
      });
      sync();
      TC.whenParsed(() => this.renderTicks());
    }

    renderTicks() {
      const ticks = this.$('.ticks');
      ticks.innerHTML = '';
      const labels = Array.from(this.querySelectorAll('crowd-slider-label'));
      for (const label of labels) {
        label.hidden = true;
        const position = Number(label.getAttribute('position'));
        if (!Number.isFinite(position) || this.max === this.min) continue;
        const span = document.createElement('span');
        span.style.left = (100 * (position - this.min)) / (this.max - this.min) + '%';
        span.textContent = label.textContent.trim();
        ticks.appendChild(span);
      }
      ticks.hidden = labels.length === 0;
    }

    get value() {
      return this.shadowRoot ? Number(this.$('input[type=range]').value) : this._value;
    }

    set value(v) {
      if (this.shadowRoot) {
        this.$('input[type=range]').value = String(v);
        this.$('.pin').textContent = String(v);
        this.setAttribute('touched', '');
      } else this._value = v;
    }

    reset() {
      this.value = this.numAttr('value', this.min);
      if (!this.hasAttribute('value')) this.removeAttribute('touched');
    }

    contribute(answer) {
      const name = this.getAttribute('name');
      if (name) answer[name] = this.value;
    }

    validate() {
      return this.hasAttribute('required') && !this.hasAttribute('touched') ? 'Move the slider to choose a value' + (this.getAttribute('name') ? ' for ' + this.getAttribute('name') : '') + '.' : null;
    }
  }
  TC.define('crowd-slider', CrowdSlider);
})();
