// Forms generated from a template's config spec (the JSON-Schema subset of
// `bulkhead-core/src/spec.rs`): types, enums, defaults, required fields, descriptions linked
// by aria-describedby, nested objects as fieldsets, secrets as password inputs never filled
// in. A form is `{fields, objects}`; `collect` reads it back into a config or marks the
// fields at fault, and `showProblem` puts a server's problem document next to its field.

import { h, uid } from "./dom.js";

/** The mask the API reads secret fields as; sent back, it keeps the stored secret. */
export const MASK = "**********";

/**
 * The properties in the spec's `order`; then required before optional, single fields before
 * groups; then as listed.
 */
function ordered(properties, required) {
  return Object.entries(properties || {})
    .map(([key, schema], index) => ({ key, schema, index }))
    .sort((a, b) => {
      const oa = typeof a.schema.order === "number" ? a.schema.order : Infinity;
      const ob = typeof b.schema.order === "number" ? b.schema.order : Infinity;
      if (oa !== ob) return oa - ob;
      const rank = (p) => (required.has(p.key) ? 0 : 2) + (p.schema.type === "object" ? 1 : 0);
      return rank(a) - rank(b) || a.index - b.index;
    });
}

/** A field's label: its `title`, else its key in words (`api_key` → "Api key"). */
function labelOf(key, schema) {
  if (typeof schema.title === "string" && schema.title.trim()) return schema.title;
  const words = key.replace(/[_-]+/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").trim().toLowerCase();
  return words ? words[0].toUpperCase() + words.slice(1) : key;
}

const pointerOf = (parent, key) => `${parent}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;

function valueAt(config, pointer) {
  let here = config;
  for (const part of pointer.split("/").slice(1)) {
    const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
    if (!here || typeof here !== "object" || !(key in here)) return undefined;
    here = here[key];
  }
  return here;
}

/**
 * One field of the form: its control, its label, its help and error lines, and how to read
 * its value back. `initial` is the value to show (the default, or the source's), never a
 * secret's.
 */
export function field(form, key, schema, pointer, required, initial, editing) {
  const id = uid("f");
  const errorId = `${id}-error`;
  const title = labelOf(key, schema);
  const secret = schema.airbyte_secret === true;
  const hints = [];
  if (schema.description) hints.push(schema.description);
  if (secret && editing) hints.push("Leave blank to keep the current value.");
  if (schema.type === "array") hints.push("One value per line.");
  const helpId = hints.length ? `${id}-help` : null;
  const mark = required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null;
  let control;
  let read;

  if (Array.isArray(schema.enum)) {
    control = h("select", { id, name: pointer });
    if (!required || initial === undefined) control.append(h("option", { value: "" }, required ? "Choose…" : "—"));
    schema.enum.forEach((option, index) => {
      control.append(h("option", { value: String(index), selected: initial !== undefined && option === initial }, String(option)));
    });
    read = () => (control.value === "" ? undefined : schema.enum[Number(control.value)]);
  } else if (schema.type === "boolean") {
    control = h("input", { id, name: pointer, type: "checkbox", checked: initial === true });
    read = () => control.checked;
  } else if (schema.type === "array") {
    control = h("textarea", { id, name: pointer, rows: 3 });
    if (Array.isArray(initial)) control.value = initial.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join("\n");
    const itemType = schema.items && schema.items.type;
    read = () => {
      const lines = control.value.split("\n").map((l) => l.trim()).filter(Boolean);
      if (!lines.length) return undefined;
      return lines.map((line) => {
        if (itemType === "string") return line;
        if (itemType === "integer" || itemType === "number") {
          const n = Number(line);
          if (!Number.isFinite(n) || (itemType === "integer" && !Number.isInteger(n))) throw new Error(`“${line}” is not a ${itemType === "integer" ? "whole number" : "number"}.`);
          return n;
        }
        if (itemType === "boolean") {
          if (line !== "true" && line !== "false") throw new Error("Each line must be true or false.");
          return line === "true";
        }
        try {
          return JSON.parse(line);
        } catch {
          return line;
        }
      });
    };
  } else {
    control = h("input", {
      id,
      name: pointer,
      type: secret ? "password" : "text",
      inputMode: schema.type === "integer" ? "numeric" : schema.type === "number" ? "decimal" : undefined,
      autocomplete: secret ? "new-password" : "off",
      spellcheck: false,
    });
    if (!secret && initial !== undefined && initial !== null) control.value = String(initial);
    if (secret && editing) control.placeholder = "unchanged";
    read = () => {
      const text = control.value;
      if (text === "") return undefined;
      if (schema.type === "integer") {
        if (!/^-?\d+$/.test(text.trim())) throw new Error("Enter a whole number.");
        return Number(text.trim());
      }
      if (schema.type === "number") {
        const n = Number(text.trim());
        if (text.trim() === "" || !Number.isFinite(n)) throw new Error("Enter a number.");
        return n;
      }
      return text;
    };
  }
  control.setAttribute("aria-describedby", [helpId, errorId].filter(Boolean).join(" "));
  if (required && schema.type !== "boolean") control.required = true;
  const help = helpId ? h("p", { class: "help", id: helpId }, hints.join(" ")) : null;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const label = h("label", { for: id }, title, mark);
  const row =
    schema.type === "boolean"
      ? h("div", { class: "field check" }, control, label, help, error)
      : h("div", { class: "field" }, label, control, help, error);

  const entry = {
    pointer,
    key,
    control,
    setError(text) {
      error.textContent = text || "";
      error.hidden = !text;
      if (text) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    },
    // The value to send, or undefined to leave the field out; throws a message for the user.
    value(current) {
      let value = read();
      if (value === undefined && secret && editing && valueAt(current, pointer) !== undefined) {
        // Blank on edit: the mask sent back keeps the stored secret.
        value = MASK;
      }
      if (value === undefined && required) throw new Error("This field is required.");
      return value;
    },
  };
  form.fields.push(entry);
  return row;
}

/** The controls of an object schema, in a container; nested objects become fieldsets. */
export function objectFields(form, schema, pointer, initial, editing) {
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const nodes = [];
  for (const { key, schema: child } of ordered(schema.properties, required)) {
    const here = pointerOf(pointer, key);
    const value = initial && typeof initial === "object" ? initial[key] : undefined;
    const start = value !== undefined ? value : editing ? undefined : child.default;
    if (child.type === "object" && child.properties) {
      const legend = h("legend", {}, labelOf(key, child), required.has(key) ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null);
      const help = child.description ? h("p", { class: "help" }, child.description) : null;
      form.objects.push({ pointer: here, required: required.has(key) });
      nodes.push(h("fieldset", { class: "group" }, legend, help, objectFields(form, child, here, start || {}, editing)));
    } else {
      nodes.push(field(form, key, child, here, required.has(key), start, editing));
    }
  }
  return nodes;
}

function setAt(config, pointer, value) {
  const parts = pointer.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  let here = config;
  parts.slice(0, -1).forEach((part) => {
    if (!here[part] || typeof here[part] !== "object" || Array.isArray(here[part])) here[part] = {};
    here = here[part];
  });
  const last = parts[parts.length - 1];
  if (value === undefined) delete here[last];
  else here[last] = value;
}

/** Reads the form into a config, or marks the fields at fault and returns null. */
export function collect(form, current) {
  const config = structuredClone(current || {});
  let ok = true;
  for (const entry of form.fields) {
    entry.setError("");
    try {
      setAt(config, entry.pointer, entry.value(current || {}));
    } catch (err) {
      entry.setError(err.message);
      ok = false;
    }
  }
  // An optional group left empty is left out; a required one is sent even if empty.
  for (const group of [...form.objects].reverse()) {
    const value = valueAt(config, group.pointer);
    if (value && typeof value === "object" && !Object.keys(value).length && !group.required) setAt(config, group.pointer, undefined);
  }
  if (!ok) {
    const first = form.fields.find((f) => f.control.getAttribute("aria-invalid") === "true");
    if (first) first.control.focus();
    return null;
  }
  return config;
}

/** Puts a problem document next to the field it names, or at the top of the form. */
export function showProblem(form, err) {
  const problem = err.problem || {};
  const text = problem.detail || err.message;
  const name = typeof problem.field === "string" ? problem.field : "";
  const at = /^(?:source_)?config at `([^`]*)`/.exec(name);
  const entry = at ? form.fields.find((f) => f.pointer === at[1]) : name === "name" ? form.nameField : null;
  if (entry) {
    entry.setError(text);
    entry.control.focus();
    form.alert.hidden = true;
  } else {
    form.alert.textContent = text;
    form.alert.hidden = false;
    form.alert.focus();
  }
}
