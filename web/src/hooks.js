// window.dterm: read-only views of the shown tab for tests and tools, plus drop(),
// which simulates a network drop. Nothing here changes what a person sees otherwise.

/** @param {import('./tabs.js').TabStrip} strip */
export function exposeHooks(strip) {
  const active = () => strip.active;
  const dterm = {
    screenText() {
      const tab = active();
      if (!tab) return '';
      const buffer = tab.view.term.buffer.active;
      const lines = [];
      for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
      return lines.join('\n');
    },
    state() { return active()?.session?.state ?? null; },
    size() { const term = active()?.view.term; return term ? `${term.rows} ${term.cols}` : ''; },
    watchLink() { return active()?.watchLink ?? ''; },
    session() { return active()?.session?.session ?? null; },
    drop() { active()?.session?.drop(); },
    title() { return active()?.title ?? null; },
    // Every tab in strip order: [{title, state, text}], text as its header shows it.
    tabs() { return strip.tabs.map((t) => ({ title: t.title, state: t.state, text: t.stateText.textContent })); },
    renderer() { return active()?.view.renderer ?? null; },
    fontSize() { return active()?.view.term.options.fontSize ?? null; },
  };
  Object.assign(window, { dterm });
}
