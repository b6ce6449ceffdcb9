/*
 * truthloop offline crowd elements: crowd-text-ranking (AWS's GenAI "V2" element).
 *
 *   {name: {"rankings": {"<dimension>": [rank of response 1, rank of response 2, ...]}}}
 *
 * For each dimension, the rank of each response in INPUT order: 1 = best, equal numbers = a tie (dense ranks:
 * 1, 2, 2, 3). AWS does not document this element's output; this is truthloop's shape (docs/interfaces.md).
 * Workers reorder each dimension's list by dragging the handle, with the ↑/↓ buttons, or with Alt+↑/↓ on a
 * focused row; "tie with the one above" appears when the dimension allows ties. Every dimension must be
 * ranked (moved, or confirmed with "Keep this order") before the task can be submitted.
 */
(function () {
  'use strict';
  const TC = window.TruthloopCrowd;
  if (!TC || customElements.get('crowd-text-ranking')) return;

  const css = `
    /* the responses keep a readable width: the ranking goes beside them when there is room, else below */
    .fp-body { flex-wrap: wrap; }
    .fp-work { flex: 1 1 480px; }
    .fp-side { flex: 1 1 340px; }
    .prompt { background: #f8fafc; border: 1px solid #e2e8f0; border-radius: 8px; padding: 12px 14px; margin-bottom: 12px;
              white-space: pre-wrap; line-height: 1.5; }
    .prompt-title, .side-title { font-size: 13px; font-weight: 700; color: #475569; margin-bottom: 4px; }
    .responses { display: flex; flex-direction: column; gap: 10px; }
    .response { border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 12px; white-space: pre-wrap; line-height: 1.5; }
    .response .rname { font-weight: 700; color: #1d4ed8; margin-bottom: 4px; white-space: normal; }
    .dim { border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px; margin-bottom: 12px; }
    .dim.todo { border-color: #fcd34d; background: #fffbeb; }
    .dim-head { display: flex; justify-content: space-between; align-items: baseline; margin-bottom: 6px; }
    .dim-name { font-weight: 700; }
    .status { font-size: 12px; color: #475569; }
    .dim.todo .status { color: #b45309; }
    ol { list-style: none; margin: 0; padding: 0; }
    li { display: flex; align-items: center; gap: 8px; padding: 6px 8px; margin: 4px 0; background: #fff;
         border: 1px solid #cbd5e1; border-radius: 8px; }
    li:focus-visible { outline: 3px solid #93c5fd; }
    li.dragging { opacity: .6; box-shadow: 0 6px 18px rgba(15, 23, 42, .18); }
    li.tied { margin-top: -2px; border-top-style: dashed; }
    .rank { font-weight: 800; color: #1d4ed8; min-width: 22px; text-align: center; }
    .handle { cursor: grab; color: #475569; font-size: 18px; user-select: none; touch-action: none; padding: 0 2px; }
    .label { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .label b { margin-right: 6px; }
    .moves button { padding: 1px 7px; }
    .tie { font-size: 12px; color: #475569; display: inline-flex; align-items: center; gap: 4px; white-space: nowrap; }
    .confirm { margin-top: 6px; font-size: 13px; padding: 4px 10px; }
  `;

  class CrowdTextRanking extends TC.FullPage {
    setup() {
      this.buildLayout({
        work: '<div class="prompt-title">Prompt</div><div class="prompt"></div><div class="prompt-title">Responses</div><div class="responses"></div>',
        side: '<div class="side-title">Rank the responses (1 = best)</div><div class="dims"></div>',
        css,
      });
      const responses = this.literalAttr('responses', []);
      this.responses = (Array.isArray(responses) ? responses : []).map((r) => (r && typeof r === 'object' ? String(r.text || r.response || '') : String(r)));
      const dims = this.literalAttr('ordinal-ranking-dimensions', []);
      this.dims = (Array.isArray(dims) ? dims : []).map((d) => (typeof d === 'string' ? { name: d, allowTie: false } : { name: String(d.name), allowTie: !!d.allowTie }));
      this.state = this.dims.map(() => ({ order: this.responses.map((_, i) => i), ties: new Set(), touched: false }));
      this.$('.prompt').textContent = this.getAttribute('text') || '';
      const list = this.$('.responses');
      this.responses.forEach((text, i) => {
        const card = document.createElement('div');
        card.className = 'response';
        card.innerHTML = '<div class="rname"></div><div class="rtext"></div>';
        card.querySelector('.rname').textContent = 'Response ' + (i + 1);
        card.querySelector('.rtext').textContent = text;
        list.appendChild(card);
      });
      this.render();
    }

    ranks(d) {
      const { order, ties } = this.state[d];
      const out = new Array(order.length);
      let rank = 0;
      order.forEach((resp, pos) => {
        if (pos === 0 || !(this.dims[d].allowTie && ties.has(resp))) rank++;
        out[resp] = rank;
      });
      return out;
    }

    render(focus) {
      const box = this.$('.dims');
      box.innerHTML = '';
      this.dims.forEach((dim, d) => {
        const st = this.state[d];
        const ranks = this.ranks(d);
        const section = document.createElement('section');
        section.className = 'dim' + (st.touched ? '' : ' todo');
        section.setAttribute('aria-label', 'Ranking for ' + dim.name);
        section.innerHTML = '<div class="dim-head"><span class="dim-name"></span><span class="status"></span></div><ol></ol><button type="button" class="confirm">Keep this order</button>';
        section.querySelector('.dim-name').textContent = dim.name;
        section.querySelector('.status').textContent = st.touched ? 'ranked' + (dim.allowTie ? ' · ties allowed' : '') : 'not ranked yet';
        const confirm = section.querySelector('.confirm');
        confirm.hidden = st.touched;
        confirm.addEventListener('click', () => {
          st.touched = true;
          this.render();
          this.changed();
        });
        const ol = section.querySelector('ol');
        st.order.forEach((resp, pos) => {
          const li = document.createElement('li');
          li.tabIndex = 0;
          li.dataset.resp = String(resp);
          const tied = dim.allowTie && pos > 0 && st.ties.has(resp);
          if (tied) li.classList.add('tied');
          li.setAttribute('aria-label', 'Response ' + (resp + 1) + ', rank ' + ranks[resp]);
          li.innerHTML = '<span class="rank"></span><span class="handle" aria-hidden="true" title="Drag to reorder">⠿</span>' +
            '<span class="label"><b></b><span class="preview muted"></span></span>' +
            '<span class="moves"><button type="button" class="up" aria-label="Move up">↑</button><button type="button" class="down" aria-label="Move down">↓</button></span>';
          li.querySelector('.rank').textContent = String(ranks[resp]);
          li.querySelector('b').textContent = 'Response ' + (resp + 1);
          li.querySelector('.preview').textContent = this.responses[resp].slice(0, 60);
          li.querySelector('.up').disabled = pos === 0;
          li.querySelector('.down').disabled = pos === st.order.length - 1;
          li.querySelector('.up').addEventListener('click', () => this.move(d, pos, pos - 1));
          li.querySelector('.down').addEventListener('click', () => this.move(d, pos, pos + 1));
          if (dim.allowTie && pos > 0) {
            const tie = document.createElement('label');
            tie.className = 'tie';
            tie.innerHTML = '<input type="checkbox"> tie with above';
            const cb = tie.querySelector('input');
            cb.checked = tied;
            cb.addEventListener('change', () => {
              if (cb.checked) st.ties.add(resp);
              else st.ties.delete(resp);
              st.touched = true;
              this.render({ d, resp });
              this.changed();
            });
            li.appendChild(tie);
          }
          li.addEventListener('keydown', (e) => this.onKey(e, d, pos));
          li.querySelector('.handle').addEventListener('pointerdown', (e) => this.startDrag(e, d, li));
          ol.appendChild(li);
        });
        box.appendChild(section);
      });
      if (focus) {
        const li = this.$$('.dim')[focus.d].querySelector('li[data-resp="' + focus.resp + '"]');
        if (li) li.focus();
      }
    }

    move(d, from, to) {
      const st = this.state[d];
      if (to < 0 || to >= st.order.length || from === to) return;
      const [resp] = st.order.splice(from, 1);
      st.order.splice(to, 0, resp);
      st.touched = true;
      this.render({ d, resp });
      this.changed();
    }

    onKey(event, d, pos) {
      const st = this.state[d];
      if (event.altKey && event.key === 'ArrowUp') this.move(d, pos, pos - 1);
      else if (event.altKey && event.key === 'ArrowDown') this.move(d, pos, pos + 1);
      else if (event.key === 'ArrowUp' && pos > 0) this.render({ d, resp: st.order[pos - 1] });
      else if (event.key === 'ArrowDown' && pos < st.order.length - 1) this.render({ d, resp: st.order[pos + 1] });
      else return;
      event.preventDefault();
    }

    startDrag(event, d, li) {
      if (event.button !== 0 || this.disabled) return;
      event.preventDefault();
      const st = this.state[d];
      const resp = Number(li.dataset.resp);
      const ol = li.parentElement;
      li.classList.add('dragging');
      let moved = false;
      // Listen on window: moving the row in the DOM would drop a pointer capture held by its handle.
      const onMove = (e) => {
        const items = Array.from(ol.children);
        const others = items.filter((x) => x !== li);
        let index = others.findIndex((x) => {
          const r = x.getBoundingClientRect();
          return e.clientY < r.top + r.height / 2;
        });
        if (index < 0) index = others.length;
        if (index !== items.indexOf(li)) {
          ol.insertBefore(li, others[index] || null);
          moved = true;
        }
      };
      const onUp = () => {
        window.removeEventListener('pointermove', onMove);
        window.removeEventListener('pointerup', onUp);
        window.removeEventListener('pointercancel', onUp);
        li.classList.remove('dragging');
        if (moved) {
          st.order = Array.from(ol.children).map((x) => Number(x.dataset.resp));
          st.touched = true;
          this.changed();
        }
        this.render({ d, resp });
      };
      window.addEventListener('pointermove', onMove);
      window.addEventListener('pointerup', onUp);
      window.addEventListener('pointercancel', onUp);
    }

    get value() {
      const rankings = {};
      this.dims.forEach((dim, d) => (rankings[dim.name] = this.ranks(d)));
      return { rankings };
    }

    contribute(answer) {
      const name = this.getAttribute('name');
      if (name) answer[name] = this.value;
    }

    validate() {
      const todo = this.dims.filter((_, d) => !this.state[d].touched).map((dim) => '“' + dim.name + '”');
      return todo.length ? 'Rank the responses for ' + todo.join(', ') + ' (reorder them, or choose “Keep this order”).' : null;
    }

    focusFirst() {
      const d = this.dims.findIndex((_, i) => !this.state[i].touched);
      const section = this.$$('.dim')[Math.max(0, d)];
      const li = section && section.querySelector('li');
      if (li) li.focus();
    }

    reset() {
      this.state = this.dims.map(() => ({ order: this.responses.map((_, i) => i), ties: new Set(), touched: false }));
      this.render();
    }
  }
  TC.define('crowd-text-ranking', CrowdTextRanking);
})();
