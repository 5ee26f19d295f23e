import { readRecord, type TokenRecord } from '@payment-auth/ky/store'

type Listener = (record: TokenRecord | undefined) => void

/** What travels on the channel: a record stored under `key`, or `null` when it was removed. */
interface Message {
  key: string
  record: TokenRecord | null
}

/**
 * Pushes stored and removed records to the other same-origin contexts on one BroadcastChannel.
 * The channel is opened on first use and closed when the last listener leaves. A channel never
 * hears its own posts, so a store does not hear itself.
 */
export function broadcaster(name: string, onUnavailable: () => void) {
  const listeners = new Map<string, Set<Listener>>()
  let channel: BroadcastChannel | undefined
  let unavailable = false

  function open(): BroadcastChannel | undefined {
    if (channel || unavailable) return channel
    try {
      if (typeof BroadcastChannel !== 'function') throw new Error('no BroadcastChannel')
      channel = new BroadcastChannel(name)
    } catch {
      unavailable = true
      onUnavailable()
      return undefined
    }
    channel.onmessage = (event: MessageEvent<unknown>) => {
      const data = event.data as Partial<Message> | null
      if (typeof data !== 'object' || data === null || typeof data.key !== 'string') return
      const record = data.record === null ? undefined : readRecord(data.record)
      if (data.record !== null && !record) return // foreign or corrupt: ignore
      for (const listener of [...(listeners.get(data.key) ?? [])]) {
        try {
          listener(record)
        } catch {
          // one broken listener must not stop the others
        }
      }
    }
    return channel
  }

  return {
    post(key: string, record: TokenRecord | null): void {
      try {
        open()?.postMessage({ key, record } satisfies Message)
      } catch {
        // a closed or failing channel only costs the push; the store still has the record
      }
    },
    subscribe(key: string, listener: Listener): () => void {
      if (!open()) return () => {}
      const set = listeners.get(key) ?? new Set<Listener>()
      listeners.set(key, set)
      set.add(listener)
      let subscribed = true
      return () => {
        if (!subscribed) return
        subscribed = false
        set.delete(listener)
        if (set.size === 0) listeners.delete(key)
        if (listeners.size === 0 && channel) {
          channel.close()
          channel = undefined
        }
      }
    },
  }
}
