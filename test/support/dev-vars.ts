/**
 * The `KEY=VALUE` lines of a `.dev.vars` file, as `wrangler dev` reads them (`#` comments and
 * blank lines skipped, one pair of surrounding quotes removed). The edge tests run with the
 * secrets of `.dev.vars.example`, and the leak guard watches for them.
 */
export function parseDevVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (!match) continue
    const value = match[2]!
    vars[match[1]!] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value
  }
  return vars
}
