// Compose projects and Swarm stacks as the container list groups them: a container's
// `service` (from /api/containers) names its kind, its project or stack, its service
// and its replica number. A service is named by these alone, so a link to it still
// opens after a redeploy has replaced every container.

/**
 * A container's service, as container_json tells of it.
 * @typedef {object} ServiceOf
 * @property {'compose' | 'swarm'} kind
 * @property {string} [project] Compose only
 * @property {string} [stack] Swarm only ("" outside any stack)
 * @property {string} service
 * @property {number} replica 0 when not known
 */

/**
 * A service as an open request names it (docs/protocol.md): `service` with its
 * `project`, or with its `stack`, or alone for a Swarm service by its full name.
 * @typedef {{service: string, project?: string, stack?: string}} ServiceName
 */

/**
 * @param {ServiceOf} s
 * @returns {ServiceName}
 */
export function serviceName(s) {
  if (s.kind === 'compose') return { service: s.service, project: s.project ?? '' };
  return s.stack ? { service: s.service, stack: s.stack } : { service: s.service };
}

/**
 * The group a service belongs to, as the list heads it ("project shop").
 * @param {ServiceOf} s
 */
export function groupTitle(s) {
  if (s.kind === 'compose') return `project ${s.project}`;
  return s.stack ? `stack ${s.stack}` : 'swarm services';
}

/**
 * What a tab opened by service is called until a replica answers.
 * @param {ServiceName} n
 */
export function serviceTitle(n) {
  const group = n.project ?? n.stack;
  return group ? `${n.service} (${group})` : n.service;
}
