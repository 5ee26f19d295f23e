import { packageBuild } from '../../tsdown.base.ts'

export default packageBuild(['@opentelemetry/api', /^@payment-auth\//])
