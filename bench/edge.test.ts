import { describe, expect, it } from 'vitest'
import { ratiosTo } from './edge.ts'

describe('edge benchmark ratios', () => {
  const rounds = {
    edge: { rps: [90, 300], cpuUs: [5000, 4000] },
    'empty POST': { rps: [100, 250], cpuUs: [4500, 4400] },
    'empty GET': { rps: [120, 400], cpuUs: [4000, 3600] },
    'empty POST again': { rps: [110, 250], cpuUs: [4500, 4400] },
  }

  it('pairs the edge Worker with a baseline within each round: throughput edge / empty, server CPU empty / edge', () => {
    expect(ratiosTo(rounds, 'empty POST')).toEqual({ throughput: [0.9, 1.2], cpu: [0.9, 1.1] })
    expect(ratiosTo(rounds, 'empty GET')).toEqual({ throughput: [0.75, 0.75], cpu: [0.8, 0.9] })
    // The A/A control: the second measure of the empty Worker's POST against the first.
    expect(ratiosTo(rounds, 'empty POST', 'empty POST again')).toEqual({ throughput: [1.1, 1], cpu: [1, 1] })
  })
})
