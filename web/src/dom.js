// Building DOM nodes. Text always goes in through textContent or text nodes, never
// innerHTML, because container names, labels and messages come from other people.

export function el(tag, props = {}, ...children) {
  const { dataset, aria, ...rest } = props;
  const node = Object.assign(document.createElement(tag), rest);
  Object.assign(node.dataset, dataset);
  for (const [name, value] of Object.entries(aria ?? {})) node.setAttribute(`aria-${name}`, value);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);
