import { memoryStore } from './store.ts'
import { storeContract } from './store.contract.ts'

storeContract({
  name: 'memoryStore',
  create: ({ now }) => memoryStore({ now }),
})
