// The docs page's behaviour: a filter over the operations, and each operation's parameters,
// body and responses read from the OpenAPI document. The page reads without it.

const documentUrl = new URL("../openapi.json", import.meta.url);

/** An element with `text` as its text content (never parsed as HTML). */
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** A schema's short name: the `$ref`'s last segment, or its type. */
function schemaName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array") return `${schemaName(schema.items)}[]`;
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "any";
  return schema.format ? `${type} (${schema.format})` : type;
}

/** The content types of a body or response and the schema of each. */
function contentList(content) {
  const list = el("ul", undefined, "content");
  for (const [type, media] of Object.entries(content || {})) {
    const item = el("li");
    item.append(el("code", type), ` ${schemaName(media.schema)}`);
    list.append(item);
  }
  return list;
}

/** The parameters, body and responses of `operation`, as nodes. */
function details(operation) {
  const parts = [];
  if (operation.parameters?.length) {
    parts.push(el("h3", "Parameters"));
    const table = el("table");
    const head = el("tr");
    for (const title of ["Name", "In", "Type", "Description"]) head.append(el("th", title));
    table.append(head);
    for (const p of operation.parameters) {
      const row = el("tr");
      const name = el("td");
      name.append(el("code", p.name));
      if (p.required) name.append(" (required)");
      row.append(name, el("td", p.in), el("td", schemaName(p.schema)), el("td", p.description || ""));
      table.append(row);
    }
    parts.push(table);
  }
  if (operation.requestBody) {
    parts.push(el("h3", "Body"), contentList(operation.requestBody.content));
  }
  parts.push(el("h3", "Responses"));
  const table = el("table");
  for (const [status, response] of Object.entries(operation.responses || {})) {
    const row = el("tr");
    const body = el("td", response.description || "");
    if (response.content) body.append(contentList(response.content));
    row.append(el("td", status, "status"), body);
    table.append(row);
  }
  parts.push(table);
  return parts;
}

/** Every operation of the document by its id. */
function byId(doc) {
  const found = new Map();
  for (const item of Object.values(doc.paths || {})) {
    for (const operation of Object.values(item)) {
      if (operation && operation.operationId) found.set(operation.operationId, operation);
    }
  }
  return found;
}

/** Shows only the operations whose text holds `query`, and only sections with one. */
function applyFilter(query) {
  const needle = query.trim().toLowerCase();
  for (const section of document.querySelectorAll("section.tag")) {
    let shown = 0;
    for (const op of section.querySelectorAll("details.operation")) {
      const hit = !needle || section.querySelector("h2").textContent.toLowerCase().includes(needle)
        || op.querySelector("summary").textContent.toLowerCase().includes(needle);
      op.hidden = !hit;
      if (hit) shown += 1;
    }
    section.hidden = shown === 0;
  }
}

async function main() {
  const filter = document.getElementById("filter");
  filter.closest(".filter").hidden = false;
  filter.addEventListener("input", () => applyFilter(filter.value));

  const response = await fetch(documentUrl, { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const operations = byId(await response.json());
  for (const op of document.querySelectorAll("details.operation")) {
    const operation = operations.get(op.dataset.operation);
    if (operation) op.querySelector(".detail").append(...details(operation));
  }
}

main();
