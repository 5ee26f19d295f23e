import { packageBuild } from '../../tsdown.base.ts'

export default packageBuild(['ky', 'valibot'], {
  index: 'src/index.ts',
  store: 'src/store-entry.ts',
  diagnostics: 'src/diagnostics.ts',
  'client-auth': 'src/client-auth.ts',
})
