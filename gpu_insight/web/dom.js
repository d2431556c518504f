//# allFunctionsCalledOnLoad
// Small DOM helpers: write only what changed, and keep one node per key across refreshes, so a
// 2 s refresh neither flickers nor moves the layout.
"use strict";

export const $ = (id) => document.getElementById(id);

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export function setWidth(node, fraction) {
  const width = `${(fraction * 100).toFixed(1)}%`;
  if (node.style.width !== width) node.style.width = width;
}

export function setLevel(node, level) {
  if (node.dataset.level !== level) node.dataset.level = level;
}

export function setHidden(node, hidden) {
  if (node.hidden !== hidden) node.hidden = hidden;
}

export function setAttr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

export function fromTemplate(id) {
  return $(id).content.firstElementChild.cloneNode(true);
}

// Reuses one child node per key: created once, updated in place, removed when gone, in order.
export function reconcile(container, items, keyOf, create, update) {
  const existing = new Map();
  for (const node of container.children) existing.set(node.dataset.key, node);
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    let node = existing.get(key);
    if (node) existing.delete(key);
    else {
      node = create(item);
      node.dataset.key = key;
    }
    update(node, item);
    const expected = previous ? previous.nextSibling : container.firstChild;
    if (node !== expected) container.insertBefore(node, expected);
    previous = node;
  }
  for (const node of existing.values()) node.remove();
}

export const ratio = (part, whole) =>
  typeof part === "number" && typeof whole === "number" && whole > 0 ? Math.min(1, Math.max(0, part / whole)) : 0;

export const isNum = (v) => typeof v === "number" && Number.isFinite(v);
