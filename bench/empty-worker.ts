// The baseline for the edge benchmark: a Worker that does nothing but answer.
export default {
  fetch: () => new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } }),
}
