import { memoryStore } from './store.ts'
import { storeContract } from '@payment-auth/test-support/store-contract'

storeContract({
  name: 'memoryStore',
  create: ({ now }) => memoryStore({ now }),
})
