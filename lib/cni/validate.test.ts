import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { jsonPointerToPath, validateConfig } from './validate.js'

const schema = {
  type: 'object',
  properties: {
    mtu: { type: 'integer', minimum: 68 },
    ranges: { type: 'array', items: { type: 'array', items: { type: 'object', required: ['subnet'], properties: { subnet: { type: 'string' } } } } },
    mode: { enum: ['a', 'b'] },
  },
}
const validate = new Ajv({ allErrors: true, useDefaults: true }).compile(schema)

describe('validateConfig', () => {
  it('names a nested key as an operator writes it, with code 7', () => {
    expect(() => validateConfig(validate, { ranges: [[{ subnet: 5 }]] }, 'ipam')).toThrowError(
      expect.objectContaining({ code: 7, details: 'ipam.ranges[0][0].subnet: must be string' }),
    )
  })

  it('names a missing required key', () => {
    expect(() => validateConfig(validate, { ranges: [[{}]] })).toThrowError(
      expect.objectContaining({ details: 'ranges[0][0].subnet: is required' }),
    )
  })

  it('lists the allowed values of an enum and reports every bad key', () => {
    expect(() => validateConfig(validate, { mode: 'c', mtu: 10 })).toThrowError(
      expect.objectContaining({ details: 'mtu: must be >= 68; mode: must be one of "a", "b"' }),
    )
  })

  it('accepts unknown keys and returns the config', () => {
    expect(validateConfig(validate, { somethingElse: true, mtu: 1500 })).toEqual({ somethingElse: true, mtu: 1500 })
  })

  it('converts JSON pointers', () => {
    expect(jsonPointerToPath('/a/0/b~1c')).toBe('a[0].b/c')
  })
})
