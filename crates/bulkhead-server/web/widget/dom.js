// The widget page's DOM helper: elements by createElement, text by text nodes, so nothing is
// ever parsed as HTML.

/**
 * An element `tag` with `props` (`class`, `on: {event: handler}`, DOM properties, else
 * attributes) and `children` (nodes or text; null, undefined and false are skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "on") for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (key in el && !key.includes("-")) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let ids = 0;

/** A new element id with `prefix`, unique in the page. */
export const uid = (prefix) => `${prefix}-${++ids}`;
