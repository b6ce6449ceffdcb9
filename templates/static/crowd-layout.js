/*
 * truthloop offline crowd elements: crowd-form, crowd-button, the full-page task layout shared by annotation
 * elements, and the layout-only elements (crowd-alert, crowd-card, crowd-badge, crowd-instructions,
 * short-instructions, full-instructions, crowd-tabs, crowd-tab).
 */
(function () {
  'use strict';
  const TC = window.TruthloopCrowd;
  if (!TC || TC.FullPage) return;

  /* ------------------------------------------------------------------ full-page layout */

  const fullPageCss = `
    :host { display: block; width: 100%; }
    .fp { display: flex; gap: 16px; align-items: stretch; min-height: 420px; border: 1px solid #e2e8f0;
          border-radius: 10px; background: #fff; overflow: hidden; }
    .fp-instructions { flex: 0 0 260px; padding: 16px; background: #f8fafc; border-right: 1px solid #e2e8f0;
          font-size: 14px; line-height: 1.45; overflow: auto; }
    .fp-instructions[hidden] { display: none; }
    .fp-inst-title[hidden] { display: none; }
    .fp-inst-title { font-weight: 700; font-size: 13px; text-transform: uppercase; letter-spacing: .04em;
          color: #475569; margin-bottom: 8px; }
    .fp-main { flex: 1 1 auto; min-width: 0; display: flex; flex-direction: column; padding: 16px; gap: 12px; }
    .fp-header { font-size: 18px; font-weight: 650; line-height: 1.3; }
    .fp-header:empty { display: none; }
    .fp-body { display: flex; gap: 16px; flex: 1 1 auto; align-items: flex-start; }
    .fp-work { flex: 1 1 auto; min-width: 0; }
    .fp-side { flex: 0 0 260px; }
    .fp-side:empty { display: none; }
    .fp-footer { display: flex; justify-content: flex-end; gap: 8px; border-top: 1px solid #e2e8f0; padding-top: 12px; }
    .link { border: none; background: none; color: #1d4ed8; padding: 4px 0; text-decoration: underline; }
    dialog { border: none; border-radius: 10px; padding: 0; width: min(760px, 92vw); max-height: 85vh;
          box-shadow: 0 20px 50px rgba(15, 23, 42, .35); }
    dialog::backdrop { background: rgba(15, 23, 42, .45); }
    .dlg-head { display: flex; justify-content: space-between; align-items: center; padding: 12px 16px;
          border-bottom: 1px solid #e2e8f0; font-weight: 650; }
    .dlg-body { padding: 16px; overflow: auto; max-height: calc(85vh - 60px); line-height: 1.5; }
    .section-title { font-size: 13px; font-weight: 700; color: #475569; margin: 4px 0 6px; }
    .fp.compact { display: block; min-height: 0; border: none; border-radius: 0; background: transparent; }
    .fp.compact .fp-instructions { border: none; background: none; padding: 0 0 8px; }
    .fp.compact .fp-inst-title, .fp.compact .fp-footer { display: none; }
    .fp.compact .fp-main { padding: 0; }
    .fp.compact .fp-body { flex-direction: column; gap: 8px; }
    .fp.compact .fp-side { flex-basis: auto; width: 100%; }
    @media (max-width: 900px) {
      .fp { flex-direction: column; }
      .fp-instructions { flex-basis: auto; border-right: none; border-bottom: 1px solid #e2e8f0; }
      .fp-body { flex-direction: column; }
      .fp-side { flex-basis: auto; width: 100%; }
    }
  `;

  const REGION_SLOTS = {
    'short-instructions': 'short-instructions',
    'full-instructions': 'full-instructions',
    'classification-target': 'target',
  };

  class FullPage extends TC.CrowdElement {
    get answers() {
      return true;
    }

    // Subclasses call this from setup(); work and side are HTML strings for the main area and the right column.
    buildLayout({ work, side, css }) {
      const root = this.shadow(
        `<div class="fp">
          <aside class="fp-instructions" aria-label="Instructions" hidden>
            <div class="fp-inst-title">Instructions</div>
            <slot name="short-instructions"></slot>
            <button type="button" class="link fp-full-open" hidden>View full instructions</button>
          </aside>
          <section class="fp-main">
            <div class="fp-header" role="heading" aria-level="2"></div>
            <div class="fp-body"><div class="fp-work">${work || ''}</div><div class="fp-side">${side || ''}</div></div>
            <slot></slot>
            <div class="error" role="alert"></div>
            <div class="fp-footer"><button type="button" class="primary fp-submit">Submit</button></div>
          </section>
          <dialog class="fp-dialog" aria-label="Full instructions">
            <div class="dlg-head"><span class="dlg-title">Full instructions</span>
              <button type="button" class="fp-full-close">Close</button></div>
            <div class="dlg-body"><slot name="full-instructions"></slot></div>
          </dialog>
        </div>`,
        fullPageCss + (css || ''),
      );
      root.querySelector('.fp-header').textContent = this.getAttribute('header') || '';
      root.querySelector('.fp-submit').addEventListener('click', () => TC.submit(this));
      const dialog = root.querySelector('dialog');
      root.querySelector('.fp-full-open').addEventListener('click', () => dialog.showModal());
      root.querySelector('.fp-full-close').addEventListener('click', () => dialog.close());
      this.assignRegions();
      TC.whenParsed(() => {
        this.assignRegions();
        this.updateCompact();
      });
      new MutationObserver(() => this.assignRegions()).observe(this, { childList: true });
      return root;
    }

    assignRegions() {
      const root = this.shadowRoot;
      if (!root) return;
      let short = false;
      let full = null;
      let titled = false;
      for (const child of this.children) {
        const slot = REGION_SLOTS[child.localName];
        if (slot && child.getAttribute('slot') !== slot) child.setAttribute('slot', slot);
        if (child.localName === 'short-instructions') {
          short = true;
          titled = titled || child.hasAttribute('header');
        }
        if (child.localName === 'full-instructions') full = child;
        if (child.localName === 'worker-comment') child.hidden = true;
      }
      const hasFull = !!(full && full.textContent.trim());
      root.querySelector('.fp-instructions').hidden = !short && !hasFull;
      root.querySelector('.fp-inst-title').hidden = titled; // the region brings its own heading
      root.querySelector('.fp-full-open').hidden = !hasFull;
      if (full) root.querySelector('.dlg-title').textContent = full.getAttribute('header') || 'Full instructions';
    }

    // Several full-page elements in one form share the form's Submit button and render compactly, one under
    // the other; a single one keeps AWS's full-page layout with its own Submit button.
    updateCompact() {
      const scope = this.closest('crowd-form') || document;
      const count = Array.from(scope.querySelectorAll('*')).filter((el) => TC.isFullPage(el)).length;
      this.shadowRoot.querySelector('.fp').classList.toggle('compact', count > 1);
    }

    setSubmitDisabled(disabled) {
      const button = this.shadowRoot && this.shadowRoot.querySelector('.fp-submit');
      if (button) button.disabled = disabled;
    }
  }
  TC.FullPage = FullPage;
  TC.isFullPage = (el) => el instanceof FullPage;

  /* ------------------------------------------------------------------ crowd-form */

  class CrowdForm extends HTMLElement {
    connectedCallback() {
      if (this._connected) return;
      this._connected = true;
      // A native submit button inside the form submits through us (there is no real <form> to submit).
      this.addEventListener('click', (event) => {
        const button = event.target.closest && event.target.closest('button[type="submit"], input[type="submit"]');
        if (button && this.contains(button)) {
          event.preventDefault();
          this.submit();
        }
      });
      TC.whenParsed(() => this.ensureSubmitButton());
    }

    // AWS's crowd-form adds a Submit button when the template has none (full-page elements bring their own).
    ensureSubmitButton() {
      const all = Array.from(this.querySelectorAll('*'));
      const hasOwn = all.filter((el) => TC.isFullPage(el)).length === 1 || all.some(
        (el) => (el.localName === 'crowd-button' && el.getAttribute('form-action') === 'submit') ||
          el.matches('button[type="submit"], input[type="submit"]'),
      );
      if (hasOwn || this.querySelector('.truthloop-form-footer')) return;
      const footer = document.createElement('div');
      footer.className = 'truthloop-form-footer';
      const button = document.createElement('crowd-button');
      button.setAttribute('form-action', 'submit');
      button.setAttribute('variant', 'primary');
      button.textContent = 'Submit';
      footer.appendChild(button);
      this.appendChild(footer);
    }

    get form() {
      return this;
    }

    get value() {
      return TC.collect(this);
    }

    submit() {
      return TC.submit(this);
    }
  }
  TC.define('crowd-form', CrowdForm);

  /* ------------------------------------------------------------------ crowd-button */

  class CrowdButton extends TC.CrowdElement {
    static get observedAttributes() {
      return ['disabled', 'variant'];
    }

    setup() {
      this.shadow(
        '<button type="button" part="button"><slot></slot></button>',
        `:host { display: inline-block; }
         button.link { border: none; background: none; color: #1d4ed8; text-decoration: underline; padding: 4px; }
         button.icon { padding: 6px; }`,
        { delegatesFocus: true },
      );
      this.sync();
      this.$('button').addEventListener('click', (event) => {
        if (this.disabled) return;
        const action = this.getAttribute('form-action');
        if (action === 'submit') {
          TC.submit(this);
        } else if (action === 'reset') {
          const form = TC.formFor(this);
          if (form) form.querySelectorAll('*').forEach((el) => typeof el.reset === 'function' && TC.isContributor(el) && el.reset());
        } else if (this.hasAttribute('href')) {
          const url = TC.safeUrl(this.getAttribute('href'));
          if (url) window.open(url, this.getAttribute('target') || '_blank', 'noopener');
        }
      });
    }

    attributeChangedCallback() {
      if (this.shadowRoot) this.sync();
    }

    sync() {
      const button = this.$('button');
      const variant = this.getAttribute('variant') || (this.getAttribute('form-action') === 'submit' ? 'primary' : 'normal');
      button.className = variant;
      button.disabled = this.disabled;
    }

    setSubmitDisabled(disabled) {
      if (this.getAttribute('form-action') === 'submit' && this.shadowRoot) this.$('button').disabled = disabled || this.disabled;
    }
  }
  TC.define('crowd-button', CrowdButton);

  /* ------------------------------------------------------------------ crowd-alert */

  const ALERT_ICONS = { success: '✔', info: 'ℹ', warning: '⚠', error: '✖' };

  class CrowdAlert extends TC.CrowdElement {
    setup() {
      const type = ['success', 'info', 'warning', 'error'].includes(this.getAttribute('type')) ? this.getAttribute('type') : 'info';
      this.shadow(
        `<div class="alert ${type}" role="${type === 'error' ? 'alert' : 'status'}">
           <span class="icon" aria-hidden="true">${ALERT_ICONS[type]}</span>
           <div class="body"><div class="head"></div><slot></slot></div>
           <button type="button" class="close" aria-label="Dismiss" hidden>×</button>
         </div>`,
        `:host { display: block; margin: 8px 0; }
         .alert { display: flex; gap: 10px; align-items: flex-start; padding: 10px 12px; border-radius: 8px; border: 1px solid; }
         .success { background: #f0fdf4; border-color: #86efac; } .info { background: #eff6ff; border-color: #93c5fd; }
         .warning { background: #fffbeb; border-color: #fcd34d; } .error { background: #fef2f2; border-color: #fca5a5; }
         .body { flex: 1; } .head { font-weight: 650; } .head:empty { display: none; }
         .close { border: none; background: none; font-size: 18px; padding: 0 4px; }`,
      );
      this.$('.head').textContent = this.getAttribute('header') || '';
      const close = this.$('.close');
      close.hidden = !this.hasAttribute('dismissible');
      close.addEventListener('click', () => this.remove());
    }
  }
  TC.define('crowd-alert', CrowdAlert);

  /* ------------------------------------------------------------------ crowd-card, crowd-badge */

  class CrowdCard extends TC.CrowdElement {
    setup() {
      this.shadow(
        '<div class="card"><img alt="" hidden><div class="heading"></div><div class="content"><slot></slot></div></div>',
        `:host { display: block; margin: 8px 0; }
         .card { border: 1px solid #e2e8f0; border-radius: 10px; background: #fff; overflow: hidden;
                 box-shadow: 0 1px 2px rgba(15, 23, 42, .06); }
         img { display: block; width: 100%; } .heading { font-weight: 650; padding: 12px 16px 0; }
         .heading:empty { display: none; } .content { padding: 12px 16px; }`,
      );
      this.$('.heading').textContent = this.getAttribute('heading') || '';
      const src = TC.safeUrl(this.getAttribute('image'));
      if (src) {
        this.$('img').src = src;
        this.$('img').hidden = false;
      }
    }
  }
  TC.define('crowd-card', CrowdCard);

  class CrowdBadge extends TC.CrowdElement {
    setup() {
      this.shadow('<span class="badge"></span>', `:host { display: inline-block; }
        .badge { display: inline-block; min-width: 18px; padding: 1px 7px; border-radius: 999px; background: #dc2626;
                 color: #fff; font-size: 12px; font-weight: 700; text-align: center; }`);
      this.$('.badge').textContent = this.getAttribute('label') || this.textContent.trim();
    }
  }
  TC.define('crowd-badge', CrowdBadge);

  /* ------------------------------------------------------------------ instructions */

  class ShortInstructions extends TC.CrowdElement {
    setup() {
      this.shadow('<div class="head"></div><slot></slot>', ':host { display: block; } .head { font-weight: 650; margin-bottom: 4px; } .head:empty { display: none; }');
      this.$('.head').textContent = this.getAttribute('header') || '';
    }
  }
  TC.define('short-instructions', ShortInstructions);

  // Inside a full-page element the full instructions live in its dialog; on their own they are a <details>.
  class FullInstructions extends TC.CrowdElement {
    setup() {
      if (this.parentElement instanceof TC.FullPage) {
        this.shadow('<slot></slot>', ':host { display: block; }');
        return;
      }
      this.shadow('<details><summary></summary><div class="body"><slot></slot></div></details>',
        ':host { display: block; margin: 8px 0; } summary { cursor: pointer; font-weight: 650; color: #1d4ed8; } .body { padding: 8px 0; }');
      this.$('summary').textContent = this.getAttribute('header') || 'Full instructions';
    }
  }
  TC.define('full-instructions', FullInstructions);

  class CrowdInstructions extends TC.CrowdElement {
    setup() {
      this.shadow(
        `<div class="box"><slot name="short-summary"></slot>
           <button type="button" class="open"></button></div>
         <dialog aria-label="Instructions"><div class="dlg-head"><span>Instructions</span><button type="button" class="close">Close</button></div>
           <div class="dlg-body"><slot name="detailed-instructions"></slot>
             <div class="examples"><div class="ex pos"><div class="section-title">Good examples</div><slot name="positive-example"></slot></div>
             <div class="ex neg"><div class="section-title">Bad examples</div><slot name="negative-example"></slot></div></div></div></dialog>`,
        `:host { display: block; margin: 8px 0; }
         .box { border: 1px solid #e2e8f0; background: #f8fafc; border-radius: 8px; padding: 10px 12px; }
         .open { margin-top: 6px; } .link-type-link .open { border: none; background: none; color: #1d4ed8; text-decoration: underline; padding: 0; }
         dialog { border: none; border-radius: 10px; padding: 0; width: min(760px, 92vw); }
         dialog::backdrop { background: rgba(15, 23, 42, .45); }
         .dlg-head { display: flex; justify-content: space-between; padding: 12px 16px; border-bottom: 1px solid #e2e8f0; font-weight: 650; }
         .dlg-body { padding: 16px; } .examples { display: flex; gap: 16px; } .ex { flex: 1; }
         .section-title { font-weight: 700; color: #475569; margin: 8px 0 4px; }`,
      );
      const button = this.$('.open');
      button.textContent = this.getAttribute('link-text') || 'View instructions';
      if (this.getAttribute('link-type') !== 'button') this.$('.box').classList.add('link-type-link');
      const dialog = this.$('dialog');
      button.addEventListener('click', () => dialog.showModal());
      this.$('.close').addEventListener('click', () => dialog.close());
      const assign = () => {
        for (const child of this.children) {
          if (['short-summary', 'detailed-instructions', 'positive-example', 'negative-example'].includes(child.localName)) {
            child.setAttribute('slot', child.localName);
          }
        }
      };
      assign();
      TC.whenParsed(assign);
    }
  }
  TC.define('crowd-instructions', CrowdInstructions);

  /* ------------------------------------------------------------------ crowd-tabs / crowd-tab */

  class CrowdTabs extends TC.CrowdElement {
    setup() {
      this.shadow('<div class="tabs" role="tablist"></div><slot></slot>',
        `:host { display: block; margin: 8px 0; } .tabs { display: flex; gap: 4px; border-bottom: 1px solid #e2e8f0; margin-bottom: 8px; }
         .tabs button { border: none; border-bottom: 3px solid transparent; border-radius: 0; background: none; }
         .tabs button[aria-selected="true"] { border-bottom-color: #1d4ed8; color: #1d4ed8; font-weight: 650; }`);
      TC.whenParsed(() => this.render());
    }

    render() {
      const tabs = Array.from(this.children).filter((c) => c.localName === 'crowd-tab');
      const list = this.$('.tabs');
      list.innerHTML = '';
      tabs.forEach((tab, i) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.setAttribute('role', 'tab');
        b.textContent = tab.getAttribute('header') || 'Tab ' + (i + 1);
        b.addEventListener('click', () => this.select(i));
        list.appendChild(b);
      });
      this.select(0);
    }

    select(index) {
      const tabs = Array.from(this.children).filter((c) => c.localName === 'crowd-tab');
      tabs.forEach((tab, i) => (tab.hidden = i !== index));
      this.$$('.tabs button').forEach((b, i) => b.setAttribute('aria-selected', String(i === index)));
    }
  }
  TC.define('crowd-tabs', CrowdTabs);

  class CrowdTab extends TC.CrowdElement {
    setup() {
      this.shadow('<slot></slot>', ':host { display: block; }');
    }
  }
  TC.define('crowd-tab', CrowdTab);
})();
