// Building DOM nodes. Text always goes in through textContent or text nodes, never
// innerHTML, because container names, labels and messages come from other people.

/**
 * What el() sets on a new element: its own properties (className, textContent,
 * hidden, ...), `dataset` entries, and `aria` attributes (aria-<name>).
 * @template {HTMLElement} E
 * @typedef {Partial<Omit<E, 'dataset'>> & {dataset?: Record<string, string | number>, aria?: Record<string, string>}} Props
 */

/** @typedef {Node | string | null | undefined} Child */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props<HTMLElementTagNameMap[K]>} [props]
 * @param {...Child} children null and undefined are left out
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props = {}, ...children) {
  const { dataset, aria, ...rest } = props;
  const node = Object.assign(document.createElement(tag), rest);
  Object.assign(node.dataset, dataset);
  for (const [name, value] of Object.entries(aria ?? {})) node.setAttribute(`aria-${name}`, value);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/**
 * The element of the page's own markup that `selector` finds, of class `type`: one
 * missing or of another kind is a bug in the page, said at once.
 * @template {HTMLElement} [E=HTMLElement]
 * @param {string} selector
 * @param {new (...args: any[]) => E} [type]
 * @returns {E}
 */
export function $(selector, type) {
  const found = document.querySelector(selector);
  if (!(found instanceof (type ?? HTMLElement))) throw new Error(`the page has no ${type?.name ?? 'element'} ${selector}`);
  return /** @type {E} */ (found);
}
