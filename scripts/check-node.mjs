// Guards every npm script: ky 2, wrangler 4 and miniflare need Node >= 22.
// The root devDependency "node" puts Node 24 first on PATH for npm scripts;
// if its install script was skipped we would silently run the machine's Node.
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.error(
    `payment-auth needs Node >= 22 (found ${process.version}). Run "npm install" so the "node" devDependency installs, and use npm scripts.`,
  )
  process.exit(1)
}
