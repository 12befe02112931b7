// The organization page: a stand-in until the organization page's own module replaces this
// file (keys, signing keys, audit log, stats, templates and tags).

export async function renderOrganization(root, api) { root.textContent = 'Organization'; }
