import { describe, expect, test } from 'vitest'
import { stringify } from 'yaml'
import { parseManifestText } from './manifests.js'

const list = {
  apiVersion: 'v1', kind: 'List',
  items: [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { team: 'a' } } },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 80 }] }] } },
  ],
}

describe('parseManifestText', () => {
  test('JSON (read by JSON.parse) and YAML give the same objects', () => {
    const fromJson = parseManifestText(JSON.stringify(list, null, 1))
    expect(fromJson).toEqual(parseManifestText(stringify(list)))
    expect(fromJson.map((o) => o.kind)).toEqual(['Namespace', 'NetworkPolicy'])
  })

  test('text that starts like JSON but is YAML flow style still parses', () => {
    expect(parseManifestText('{kind: Namespace, metadata: {name: y}}')).toEqual([{ kind: 'Namespace', metadata: { name: 'y' } }])
  })

  test('broken text is an error that says where; a bare value is not an object', () => {
    expect(() => parseManifestText('{"kind": "Pod", "metadata": {"name": [unclosed\n')).toThrow()
    expect(() => parseManifestText('[1, 2]')).toThrow(/not an object/)
    expect(() => parseManifestText('42')).toThrow(/not an object/)
  })
})
