import { packageBuild } from '../../tsdown.base.ts'

export default packageBuild([/^@payment-auth\//, 'idb-keyval'])
